package rustmq

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
)

func sampleRecords() []Record {
	now := time.UnixMilli(1_700_000_000_000)
	return []Record{
		{Key: []byte("k1"), Value: []byte("hello"), Timestamp: now, Headers: []Header{{Key: "h", Value: []byte("v")}}},
		{Key: nil, Value: bytes.Repeat([]byte{0, 1, 2, 0xff}, 300), Timestamp: now.Add(5 * time.Millisecond)},
		{Key: []byte{}, Value: nil, Timestamp: now.Add(-time.Millisecond)},
	}
}

func TestBatchRoundTripsEveryCodec(t *testing.T) {
	for _, c := range []Compression{CompressionNone, CompressionGzip, CompressionSnappy, CompressionLZ4, CompressionZstd} {
		in := sampleRecords()
		b, err := EncodeBatch(in, BatchOptions{Compression: c, ProducerID: 7, ProducerEpoch: 1, BaseSequence: 40})
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		// Two batches back to back, then half of a third (a fetch may end mid-batch).
		data := append(append(append([]byte{}, b...), b...), b[:len(b)/2]...)
		out, err := DecodeBatches(data)
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		if len(out) != 2*len(in) {
			t.Fatalf("%s: %d records", c, len(out))
		}
		for i, r := range out[:len(in)] {
			want := in[i]
			if !bytes.Equal(r.Key, want.Key) || (r.Key == nil) != (want.Key == nil) {
				t.Errorf("%s record %d key %q, want %q", c, i, r.Key, want.Key)
			}
			if !bytes.Equal(r.Value, want.Value) || (r.Value == nil) != (want.Value == nil) {
				t.Errorf("%s record %d value differs", c, i)
			}
			if !r.Timestamp.Equal(want.Timestamp) || r.Offset != int64(i) {
				t.Errorf("%s record %d at %v offset %d", c, i, r.Timestamp, r.Offset)
			}
			if len(r.Headers) != len(want.Headers) {
				t.Errorf("%s record %d headers %v", c, i, r.Headers)
			}
		}
	}
}

func TestCorruptBatchesAreTypedErrors(t *testing.T) {
	b, err := EncodeBatch(sampleRecords(), NotIdempotent)
	if err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte{}, b...)
	flipped[len(flipped)-1] ^= 0xff
	magic := append([]byte{}, b...)
	magic[16] = 1
	short := append([]byte{}, b...)
	copy(short[8:12], []byte{0, 0, 0, 10}) // a length below the fixed part
	for name, data := range map[string][]byte{"crc": flipped, "magic": magic, "length": short} {
		if _, err := DecodeBatches(data); !errors.Is(err, ErrBatch) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := EncodeBatch(nil, NotIdempotent); !errors.Is(err, ErrBatch) {
		t.Errorf("empty batch: %v", err)
	}
}

// Kafka's snappy is snappy-java's framing; a raw block without the header is read too (as
// Java reads it).
func TestSnappyFramingAndRawBlocks(t *testing.T) {
	raw := bytes.Repeat([]byte("0123456789abcdef"), 5000) // more than one 32 KiB block
	framed, err := compress(CompressionSnappy, raw)
	if err != nil || !bytes.HasPrefix(framed, xerialMagic) {
		t.Fatalf("framing: %v", err)
	}
	for name, data := range map[string][]byte{"framed": framed, "raw": s2.EncodeSnappy(nil, raw)} {
		out, err := decompress(CompressionSnappy, data)
		if err != nil || !bytes.Equal(out, raw) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := decompress(CompressionSnappy, append(append([]byte{}, xerialMagic...), 0, 0, 9)); !errors.Is(err, ErrBatch) {
		t.Fatalf("cut-off frame: %v", err)
	}
}

// FuzzDecodeBatches: no input makes the decoder panic or allocate without bound.
func FuzzDecodeBatches(f *testing.F) {
	for _, c := range []Compression{CompressionNone, CompressionGzip, CompressionSnappy, CompressionLZ4, CompressionZstd} {
		b, err := EncodeBatch(sampleRecords(), BatchOptions{Compression: c, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = DecodeBatches(data)
	})
}
