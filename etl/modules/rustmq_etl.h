/* Helpers for RustMQ ETL modules in C (ABI rustmq_etl_v1, see docs/etl-abi.md): a bump
 * allocator over the module's memory, the input envelope's fields, and an output list
 * builder. Build: clang --target=wasm32 -O2 -mbulk-memory -nostdlib -Wl,--no-entry -o m.wasm m.c
 * (-mbulk-memory: copies and fills become memory.copy/memory.fill, no libc needed) */
#ifndef RUSTMQ_ETL_H
#define RUSTMQ_ETL_H

#include <stdint.h>

#define ETL_KEEP 0
#define ETL_DROP 1
#define ETL_REJECT (-1)
#define ETL_BAD_INPUT (-2)

typedef struct {
  const uint8_t *ptr; /* 0 when absent */
  int32_t len;        /* -1 when absent */
} etl_bytes;

typedef struct {
  int64_t timestamp;
  int32_t partition;
  etl_bytes topic;
  etl_bytes key;
  etl_bytes value;
  uint32_t header_count;
  const uint8_t *headers; /* the raw header list, copied as is into outputs */
  uint32_t headers_len;
} etl_record;

extern unsigned char __heap_base;
static uint32_t etl_bump;

/* The ABI's allocator: memory for the host's input and the module's output. */
__attribute__((export_name("alloc"))) uint32_t alloc(uint32_t n) {
  if (!etl_bump) etl_bump = (uint32_t)&__heap_base;
  uint32_t p = (etl_bump + 7u) & ~7u;
  uint32_t end = p + n;
  uint32_t have = (uint32_t)__builtin_wasm_memory_size(0) * 65536u;
  if (end > have) {
    if (__builtin_wasm_memory_grow(0, (end - have + 65535u) / 65536u) < 0) return 0;
  }
  etl_bump = end;
  return p;
}

/* Marks the module as built for ABI v1. */
__attribute__((export_name("rustmq_etl_v1"))) void rustmq_etl_v1(void) {}

static inline uint32_t etl_u32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline int64_t etl_i64(const uint8_t *p) {
  return (int64_t)((uint64_t)etl_u32(p) | (uint64_t)etl_u32(p + 4) << 32);
}
static inline void etl_put_u32(uint8_t *p, uint32_t v) {
  p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24;
}
static inline void etl_put_i64(uint8_t *p, int64_t v) {
  etl_put_u32(p, (uint32_t)v); etl_put_u32(p + 4, (uint32_t)((uint64_t)v >> 32));
}

/* Reads one length-prefixed field; 0 when it runs past `end`. */
static inline const uint8_t *etl_field(const uint8_t *p, const uint8_t *end, etl_bytes *out) {
  if (end - p < 4) return 0;
  out->len = (int32_t)etl_u32(p);
  p += 4;
  if (out->len < 0) { out->ptr = 0; out->len = -1; return p; }
  if (end - p < out->len) return 0;
  out->ptr = p;
  return p + out->len;
}

/* Parses the envelope at ptr..ptr+len; 0 on malformed input. */
static inline int etl_parse(uint32_t ptr, uint32_t len, etl_record *r) {
  const uint8_t *p = (const uint8_t *)ptr, *end = p + len;
  if (len < 17 || p[0] != 1) return 0;
  r->timestamp = etl_i64(p + 1);
  r->partition = (int32_t)etl_u32(p + 9);
  uint32_t tl = etl_u32(p + 13);
  p += 17;
  if ((uint32_t)(end - p) < tl) return 0;
  r->topic.ptr = p; r->topic.len = (int32_t)tl;
  p += tl;
  if (!(p = etl_field(p, end, &r->key))) return 0;
  if (!(p = etl_field(p, end, &r->value))) return 0;
  if (end - p < 4) return 0;
  r->header_count = etl_u32(p);
  r->headers = p + 4;
  r->headers_len = (uint32_t)(end - p - 4);
  return 1;
}

/* An output list being written. */
typedef struct {
  uint8_t *start, *at;
  uint32_t count;
} etl_out;

/* Starts an output list with room for `capacity` bytes; 0 when memory runs out. */
static inline int etl_out_begin(etl_out *o, uint32_t capacity) {
  o->start = (uint8_t *)alloc(capacity + 4);
  if (!o->start) return 0;
  o->at = o->start + 4;
  o->count = 0;
  return 1;
}

static inline void etl_copy(uint8_t *dst, const uint8_t *src, uint32_t n) {
  while (n--) *dst++ = *src++;
}

static inline void etl_out_bytes(etl_out *o, const uint8_t *p, int32_t len) {
  etl_put_u32(o->at, (uint32_t)len);
  o->at += 4;
  if (len > 0) { etl_copy(o->at, p, (uint32_t)len); o->at += len; }
}

/* Appends a record: the input's headers plus `extra_headers` (already encoded,
 * `extra_count` of them). */
static inline void etl_out_record(etl_out *o, const etl_record *r, etl_bytes key, etl_bytes value,
                           const uint8_t *extra_headers, uint32_t extra_len, uint32_t extra_count) {
  etl_put_i64(o->at, r->timestamp);
  o->at += 8;
  etl_out_bytes(o, key.ptr, key.len);
  etl_out_bytes(o, value.ptr, value.len);
  etl_put_u32(o->at, r->header_count + extra_count);
  o->at += 4;
  etl_copy(o->at, r->headers, r->headers_len);
  o->at += r->headers_len;
  etl_copy(o->at, extra_headers, extra_len);
  o->at += extra_len;
  o->count++;
}

/* The value `process` returns for the list. */
static inline int64_t etl_out_end(etl_out *o) {
  etl_put_u32(o->start, o->count);
  return (int64_t)((uint64_t)(uint32_t)o->start << 32 | (uint32_t)(o->at - o->start));
}

#endif
