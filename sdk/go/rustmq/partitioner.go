package rustmq

// Murmur2 is Kafka's murmur2 hash of a key (the Java client's and the Rust client's).
func Murmur2(data []byte) int32 {
	const m uint32 = 0x5bd1e995
	const r = 24
	h := uint32(0x9747b28c) ^ uint32(len(data))
	n := len(data) / 4 * 4
	for i := 0; i < n; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := data[n:]
	switch len(tail) {
	case 3:
		h ^= uint32(tail[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(tail[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(tail[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}

// PartitionForKey is the partition of a keyed message, as every RustMQ and Kafka client
// computes it: the positive murmur2 hash modulo the partition count.
func PartitionForKey(key []byte, partitions int32) int32 {
	if partitions < 1 {
		partitions = 1
	}
	return int32(uint32(Murmur2(key)&0x7fffffff) % uint32(partitions))
}
