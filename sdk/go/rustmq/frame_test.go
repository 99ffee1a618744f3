package rustmq

import (
	"bytes"
	"testing"
)

func TestFrameHeaderRoundTrip(t *testing.T) {
	h := FrameHeader{BodyLen: 3, APIKey: APIProduce, APIVersion: 1, RequestID: 7, Flags: FlagResponse}
	frame := append(h.Append(nil), 1, 2, 3)
	got, body, err := DecodeFrame(frame, 1024)
	if err != nil || got != h || !bytes.Equal(body, []byte{1, 2, 3}) {
		t.Fatalf("%+v %v %v", got, body, err)
	}
	if _, _, err := DecodeFrame(frame[:10], 1024); err == nil {
		t.Fatal("a short frame decoded")
	}
	if _, _, err := DecodeFrame(frame, 2); err == nil {
		t.Fatal("a body over the limit decoded")
	}
	if _, _, err := DecodeFrame(append(frame, 9), 1024); err == nil {
		t.Fatal("a frame longer than its header says decoded")
	}
}

// FuzzDecodeFrame: any bytes give a frame or an error, never a panic, and what decodes
// encodes back to the same bytes.
func FuzzDecodeFrame(f *testing.F) {
	f.Add(FrameHeader{BodyLen: 1, APIKey: APIHealth, APIVersion: 1, RequestID: 1}.Append([]byte{}))
	f.Add([]byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		h, body, err := DecodeFrame(data, 1<<20)
		if err != nil {
			return
		}
		again := append(h.Append(nil), body...)
		if !bytes.Equal(again[:12], data[:12]) || !bytes.Equal(again[HeaderLen:], data[HeaderLen:]) {
			t.Fatalf("%x re-encoded as %x", data, again)
		}
	})
}
