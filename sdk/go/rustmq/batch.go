package rustmq

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Compression is a record batch's codec (attributes bits 0-2 of Kafka's RecordBatch v2).
type Compression int8

// The codecs a broker accepts.
const (
	CompressionNone   Compression = 0
	CompressionGzip   Compression = 1
	CompressionSnappy Compression = 2
	CompressionLZ4    Compression = 3
	CompressionZstd   Compression = 4
)

// String is the codec's name.
func (c Compression) String() string {
	switch c {
	case CompressionNone:
		return "none"
	case CompressionGzip:
		return "gzip"
	case CompressionSnappy:
		return "snappy"
	case CompressionLZ4:
		return "lz4"
	case CompressionZstd:
		return "zstd"
	}
	return fmt.Sprintf("compression(%d)", int8(c))
}

// Header is one record header.
type Header struct {
	Key   string
	Value []byte
}

// Record is one message as a record batch holds it. A nil Key is a null key; a nil Value
// is a tombstone.
type Record struct {
	Key       []byte
	Value     []byte
	Headers   []Header
	Timestamp time.Time
	// Offset in its partition (set when decoded from a fetch).
	Offset int64
}

// BatchOptions are the producer fields of a batch. A producer that is not idempotent sends
// ProducerID -1, epoch -1 and base sequence -1 (NotIdempotent).
type BatchOptions struct {
	Compression   Compression
	ProducerID    int64
	ProducerEpoch int16
	BaseSequence  int32
}

// NotIdempotent are the batch options of a producer without an id.
var NotIdempotent = BatchOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}

const (
	// batchOverhead is the fixed part of a RecordBatch v2 before its records.
	batchOverhead = 61
	// crcStart is where the CRC32C's bytes start (the attributes).
	crcStart = 21
	// lengthEnd is where the bytes the length counts start.
	lengthEnd = 12
	// controlBit marks a transaction marker batch (attributes bit 5).
	controlBit = 0x20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrBatch is wrapped by every batch decoding failure.
var ErrBatch = errors.New("rustmq: bad record batch")

// EncodeBatch encodes records as one RecordBatch v2 (magic 2, base offset 0, leader epoch
// -1, CRC32C), compressed with opt.Compression.
func EncodeBatch(records []Record, opt BatchOptions) ([]byte, error) {
	if len(records) == 0 {
		return nil, fmt.Errorf("%w: no records", ErrBatch)
	}
	first := records[0].Timestamp.UnixMilli()
	maxTs := first
	// The records' sizes first, so that each is written once, straight into the batch's
	// buffer behind room for its header (a producer's CPU goes mostly to copying bytes).
	total := 0
	for i, r := range records {
		body := recordBodySize(r, r.Timestamp.UnixMilli()-first, i)
		total += varintLen(int64(body)) + body
	}
	buf := make([]byte, batchOverhead, batchOverhead+total)
	for i, r := range records {
		ts := r.Timestamp.UnixMilli()
		if ts > maxTs {
			maxTs = ts
		}
		headers := make([]kmsg.Header, len(r.Headers))
		for j, h := range r.Headers {
			headers[j] = kmsg.Header{Key: h.Key, Value: h.Value}
		}
		rec := kmsg.Record{
			TimestampDelta64: ts - first,
			OffsetDelta:      int32(i),
			Key:              r.Key,
			Value:            r.Value,
			Headers:          headers,
		}
		body := recordBodySize(r, ts-first, i)
		rec.Length = int32(body)
		size := varintLen(int64(body)) + body
		at := len(buf)
		if buf = rec.AppendTo(buf); len(buf)-at != size {
			return nil, fmt.Errorf("%w: record %d took %d bytes, %d were counted", ErrBatch, i, len(buf)-at, size)
		}
	}
	b := kmsg.RecordBatch{
		FirstOffset:          0,
		PartitionLeaderEpoch: -1,
		Magic:                2,
		Attributes:           int16(opt.Compression),
		LastOffsetDelta:      int32(len(records) - 1),
		FirstTimestamp:       first,
		MaxTimestamp:         maxTs,
		ProducerID:           opt.ProducerID,
		ProducerEpoch:        opt.ProducerEpoch,
		FirstSequence:        opt.BaseSequence,
		NumRecords:           int32(len(records)),
	}
	var out []byte
	if opt.Compression == CompressionNone {
		// The header goes into the room left for it, in front of the records.
		b.Length = int32(batchOverhead - lengthEnd + total)
		if head := b.AppendTo(buf[:0]); len(head) != batchOverhead {
			return nil, fmt.Errorf("%w: a batch header of %d bytes", ErrBatch, len(head))
		}
		out = buf
	} else {
		compressed, err := compress(opt.Compression, buf[batchOverhead:])
		if err != nil {
			return nil, err
		}
		b.Records = compressed
		b.Length = int32(batchOverhead - lengthEnd + len(compressed))
		out = b.AppendTo(make([]byte, 0, batchOverhead+len(compressed)))
	}
	binary.BigEndian.PutUint32(out[17:21], crc32.Checksum(out[crcStart:], castagnoli))
	return out, nil
}

// recordBodySize is the size of a record of a batch on the wire after its length varint
// (what kmsg.Record.AppendTo writes after it).
func recordBodySize(r Record, tsDelta int64, offsetDelta int) int {
	body := 1 + varintLen(tsDelta) + varintLen(int64(offsetDelta)) + varBytesSize(r.Key) + varBytesSize(r.Value) +
		varintLen(int64(len(r.Headers)))
	for _, h := range r.Headers {
		body += varintLen(int64(len(h.Key))) + len(h.Key) + varBytesSize(h.Value)
	}
	return body
}

// varBytesSize is the size of b as a record's varint-prefixed bytes (nil is length -1).
func varBytesSize(b []byte) int {
	if b == nil {
		return varintLen(-1)
	}
	return varintLen(int64(len(b))) + len(b)
}

// varintLen is the size of v as a zigzag varint.
func varintLen(v int64) int {
	var tmp [binary.MaxVarintLen64]byte
	return binary.PutVarint(tmp[:], v)
}

// DecodeBatches decodes the concatenated batches of a fetched partition into its records,
// with their offsets. Transaction markers are skipped; a batch cut off at the end (a broker
// may send one) ends the decoding without an error.
func DecodeBatches(data []byte) ([]Record, error) {
	var out []Record
	for len(data) > 0 {
		if len(data) < lengthEnd {
			break
		}
		length := int64(int32(binary.BigEndian.Uint32(data[8:12])))
		if length < batchOverhead-lengthEnd {
			return out, fmt.Errorf("%w: batch length %d", ErrBatch, length)
		}
		if int64(len(data)) < lengthEnd+length {
			break
		}
		one := data[:lengthEnd+length]
		data = data[lengthEnd+length:]
		records, err := decodeBatch(one)
		if err != nil {
			return out, err
		}
		out = append(out, records...)
	}
	return out, nil
}

func decodeBatch(one []byte) ([]Record, error) {
	if len(one) < batchOverhead {
		return nil, fmt.Errorf("%w: %d bytes", ErrBatch, len(one))
	}
	if magic := int8(one[16]); magic != 2 {
		return nil, fmt.Errorf("%w: magic %d", ErrBatch, magic)
	}
	if want, got := binary.BigEndian.Uint32(one[17:21]), crc32.Checksum(one[crcStart:], castagnoli); want != got {
		return nil, fmt.Errorf("%w: crc %08x, computed %08x", ErrBatch, want, got)
	}
	var b kmsg.RecordBatch
	if err := b.ReadFrom(one); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBatch, err)
	}
	if b.Attributes&controlBit != 0 {
		return nil, nil
	}
	raw, err := decompress(Compression(b.Attributes&0x7), b.Records)
	if err != nil {
		return nil, err
	}
	if b.NumRecords < 0 {
		return nil, fmt.Errorf("%w: %d records", ErrBatch, b.NumRecords)
	}
	out := make([]Record, 0, min(int(b.NumRecords), len(raw)))
	for i := int32(0); i < b.NumRecords; i++ {
		length, n := binary.Varint(raw)
		if n <= 0 || length < 0 || int64(len(raw)-n) < length {
			return out, fmt.Errorf("%w: record %d of %d cut off", ErrBatch, i, b.NumRecords)
		}
		var rec kmsg.Record
		if err := rec.ReadFrom(raw[:n+int(length)]); err != nil {
			return out, fmt.Errorf("%w: record %d: %v", ErrBatch, i, err)
		}
		raw = raw[n+int(length):]
		r := Record{
			Key:       rec.Key,
			Value:     rec.Value,
			Timestamp: time.UnixMilli(b.FirstTimestamp + rec.TimestampDelta64),
			Offset:    b.FirstOffset + int64(rec.OffsetDelta),
		}
		for _, h := range rec.Headers {
			r.Headers = append(r.Headers, Header{Key: h.Key, Value: h.Value})
		}
		out = append(out, r)
	}
	return out, nil
}

var (
	zstdOnce sync.Once
	zstdEnc  *zstd.Encoder
	zstdDec  *zstd.Decoder
	zstdErr  error
)

func zstdCodec() (*zstd.Encoder, *zstd.Decoder, error) {
	zstdOnce.Do(func() {
		zstdEnc, zstdErr = zstd.NewWriter(nil)
		if zstdErr == nil {
			zstdDec, zstdErr = zstd.NewReader(nil, zstd.WithDecoderMaxMemory(maxDecompressed))
		}
	})
	return zstdEnc, zstdDec, zstdErr
}

func compress(c Compression, raw []byte) ([]byte, error) {
	switch c {
	case CompressionNone:
		return raw, nil
	case CompressionGzip:
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		if _, err := w.Write(raw); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	case CompressionSnappy:
		return snappyXerial(raw), nil
	case CompressionLZ4:
		var buf bytes.Buffer
		w := lz4.NewWriter(&buf)
		if _, err := w.Write(raw); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	case CompressionZstd:
		enc, _, err := zstdCodec()
		if err != nil {
			return nil, err
		}
		return enc.EncodeAll(raw, nil), nil
	}
	return nil, fmt.Errorf("rustmq: unknown compression %d", c)
}

// maxDecompressed bounds what one batch may expand to (a hostile batch must not exhaust
// memory): the broker's largest frame.
const maxDecompressed = 256 << 20

func decompress(c Compression, data []byte) ([]byte, error) {
	limited := func(r io.Reader) ([]byte, error) {
		out, err := io.ReadAll(io.LimitReader(r, maxDecompressed+1))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrBatch, c, err)
		}
		if len(out) > maxDecompressed {
			return nil, fmt.Errorf("%w: %s expands beyond %d bytes", ErrBatch, c, maxDecompressed)
		}
		return out, nil
	}
	switch c {
	case CompressionNone:
		return data, nil
	case CompressionGzip:
		r, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %v", ErrBatch, err)
		}
		return limited(r)
	case CompressionSnappy:
		return unsnappy(data)
	case CompressionLZ4:
		return limited(lz4.NewReader(bytes.NewReader(data)))
	case CompressionZstd:
		_, dec, err := zstdCodec()
		if err != nil {
			return nil, err
		}
		// The decoder's memory limit (WithDecoderMaxMemory) bounds the output.
		out, err := dec.DecodeAll(data, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: zstd: %v", ErrBatch, err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: unknown compression %d", ErrBatch, c)
}

// xerialMagic starts Kafka's snappy framing (snappy-java's stream format: this header, then
// blocks of a big-endian u32 length and a raw snappy block), which the Java and Rust clients
// write.
var xerialMagic = []byte("\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01")

// xerialBlock is snappy-java's block size.
const xerialBlock = 32 << 10

func snappyXerial(raw []byte) []byte {
	out := append([]byte{}, xerialMagic...)
	for len(raw) > 0 {
		n := min(len(raw), xerialBlock)
		block := s2.EncodeSnappy(nil, raw[:n])
		out = binary.BigEndian.AppendUint32(out, uint32(len(block)))
		out = append(out, block...)
		raw = raw[n:]
	}
	return out
}

// unsnappy reads the xerial framing, or a raw snappy block without its header (as Java
// does).
func unsnappy(data []byte) ([]byte, error) {
	block := func(b []byte, total int) ([]byte, error) {
		n, err := s2.DecodedLen(b)
		if err != nil || total+n > maxDecompressed {
			return nil, fmt.Errorf("%w: snappy block of %d bytes: %v", ErrBatch, n, err)
		}
		out, err := s2.Decode(nil, b)
		if err != nil {
			return nil, fmt.Errorf("%w: snappy: %v", ErrBatch, err)
		}
		return out, nil
	}
	if !bytes.HasPrefix(data, xerialMagic) {
		return block(data, 0)
	}
	data = data[len(xerialMagic):]
	var out []byte
	for len(data) > 0 {
		if len(data) < 4 {
			return nil, fmt.Errorf("%w: snappy frame cut off", ErrBatch)
		}
		n := binary.BigEndian.Uint32(data)
		data = data[4:]
		if uint64(n) > uint64(len(data)) {
			return nil, fmt.Errorf("%w: snappy block of %d bytes, %d left", ErrBatch, n, len(data))
		}
		b, err := block(data[:n], len(out))
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
		data = data[n:]
	}
	return out, nil
}
