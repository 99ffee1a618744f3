package rustmq

import "testing"

// Kafka's reference values (also the Rust client's test).
func TestMurmur2MatchesKafka(t *testing.T) {
	cases := map[string]int32{
		"21":                         -973932308,
		"foobar":                     -790332482,
		"a-little-bit-long-string":   -985981536,
		"a-little-bit-longer-string": -1486304829,
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
		"abc": 479470107,
	}
	for k, want := range cases {
		if got := Murmur2([]byte(k)); got != want {
			t.Errorf("murmur2(%q) = %d, want %d", k, got, want)
		}
	}
	if p := PartitionForKey([]byte("foobar"), 8); p < 0 || p >= 8 {
		t.Errorf("partition %d", p)
	}
}
