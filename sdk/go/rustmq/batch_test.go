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

// EncodeBatch counts each record's size before writing it into the batch's buffer: whatever
// the keys, values, headers and timestamps (nil or empty, sizes across varint boundaries,
// timestamps before the first), the batch decodes to the same records.
func FuzzEncodeBatch(f *testing.F) {
	f.Add([]byte("k"), []byte("v"), "h", []byte("hv"), int64(5), false, uint16(0))
	f.Add([]byte{}, []byte(nil), "", []byte(nil), int64(-1), true, uint16(63))
	f.Add([]byte(nil), bytes.Repeat([]byte{7}, 8200), "header", []byte{}, int64(1<<40), false, uint16(64))
	f.Fuzz(func(t *testing.T, key, value []byte, hkey string, hvalue []byte, tsDelta int64, nilKey bool, pad uint16) {
		if nilKey {
			key = nil
		}
		// Values around the varint boundaries (64, 8192) without a huge corpus.
		value = append(value, bytes.Repeat([]byte{1}, int(pad%9000))...)
		now := time.UnixMilli(1_700_000_000_000)
		in := []Record{
			{Key: key, Value: value, Timestamp: now, Headers: []Header{{Key: hkey, Value: hvalue}, {Key: "", Value: nil}}},
			{Key: value, Value: key, Timestamp: now.Add(time.Duration(tsDelta%(1<<40)) * time.Millisecond)},
		}
		b, err := EncodeBatch(in, BatchOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1})
		if err != nil {
			t.Fatal(err)
		}
		out, err := DecodeBatches(b)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != len(in) {
			t.Fatalf("%d records back of %d", len(out), len(in))
		}
		for i, r := range out {
			w := in[i]
			if !bytes.Equal(r.Key, w.Key) || (r.Key == nil) != (w.Key == nil) || !bytes.Equal(r.Value, w.Value) ||
				(r.Value == nil) != (w.Value == nil) || !r.Timestamp.Equal(w.Timestamp) || len(r.Headers) != len(w.Headers) {
				t.Fatalf("record %d: %+v, sent %+v", i, r, w)
			}
			for j, h := range r.Headers {
				if h.Key != w.Headers[j].Key || !bytes.Equal(h.Value, w.Headers[j].Value) || (h.Value == nil) != (w.Headers[j].Value == nil) {
					t.Fatalf("record %d header %d: %+v, sent %+v", i, j, h, w.Headers[j])
				}
			}
		}
	})
}

// A producer's batch of 1,000 records of 1 KiB, as rustmq-go-bench sends them.
func BenchmarkEncodeBatch(b *testing.B) {
	now := time.Now()
	records := make([]Record, 1000)
	for i := range records {
		records[i] = Record{Value: bytes.Repeat([]byte{byte(i)}, 1024), Timestamp: now}
	}
	b.SetBytes(1000 * 1024)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeBatch(records, BatchOptions{ProducerID: 1, ProducerEpoch: 0, BaseSequence: 0}); err != nil {
			b.Fatal(err)
		}
	}
}
