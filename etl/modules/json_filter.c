/* Keeps records whose JSON value has a field with a given value; drops the rest.
 * Config: "field=value", e.g. "level=error" keeps {"level": "error", ...} and
 * {"level":"error"}; a value without quotes in the config also matches numbers and
 * booleans ("code=500"). A textual match, not a full JSON parser: it looks for the field's
 * key at any depth. */
#include "rustmq_etl.h"

static const uint8_t *field;
static uint32_t field_len;
static const uint8_t *want;
static uint32_t want_len;

__attribute__((export_name("init"))) int32_t init(uint32_t ptr, uint32_t len) {
  const uint8_t *c = (const uint8_t *)ptr;
  for (uint32_t i = 0; i < len; i++) {
    if (c[i] == '=') {
      field = c; field_len = i; want = c + i + 1; want_len = len - i - 1;
      return field_len ? 0 : 1;
    }
  }
  return 1; /* no '=': refuse to start */
}

static int eq(const uint8_t *a, const uint8_t *b, uint32_t n) {
  while (n--) if (*a++ != *b++) return 0;
  return 1;
}

/* Whether v[i..] is `"field"` then `:` then the wanted value. */
static int match_at(const uint8_t *v, uint32_t n, uint32_t i) {
  if (i + field_len + 2 > n || v[i] != '"' || !eq(v + i + 1, field, field_len) ||
      v[i + field_len + 1] != '"')
    return 0;
  i += field_len + 2;
  while (i < n && (v[i] == ' ' || v[i] == '\t')) i++;
  if (i >= n || v[i] != ':') return 0;
  i++;
  while (i < n && (v[i] == ' ' || v[i] == '\t')) i++;
  int quoted = i < n && v[i] == '"';
  if (quoted) i++;
  if (i + want_len > n || !eq(v + i, want, want_len)) return 0;
  i += want_len;
  if (quoted) return i < n && v[i] == '"';
  return i == n || v[i] == ',' || v[i] == '}' || v[i] == ' ' || v[i] == ']';
}

__attribute__((export_name("process"))) int64_t process(uint32_t ptr, uint32_t len) {
  etl_record r;
  if (!etl_parse(ptr, len, &r)) return ETL_BAD_INPUT;
  if (r.value.len <= 0) return ETL_DROP;
  for (uint32_t i = 0; i < (uint32_t)r.value.len; i++)
    if (match_at(r.value.ptr, (uint32_t)r.value.len, i)) return ETL_KEEP;
  return ETL_DROP;
}
