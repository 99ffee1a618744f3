/* Masks personal data in values: every run of four or more digits (card, phone and
 * account numbers) becomes '*' characters, and the local part of e-mail addresses too. */
#include "rustmq_etl.h"

static int digit(uint8_t c) { return c >= '0' && c <= '9'; }
static int local(uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || digit(c) || c == '.' || c == '_' ||
         c == '-' || c == '+';
}

__attribute__((export_name("process"))) int64_t process(uint32_t ptr, uint32_t len) {
  etl_record r;
  if (!etl_parse(ptr, len, &r)) return ETL_BAD_INPUT;
  if (r.value.len <= 0) return ETL_KEEP;
  uint32_t n = (uint32_t)r.value.len;
  uint8_t *v = (uint8_t *)alloc(n);
  if (!v) return ETL_REJECT;
  etl_copy(v, r.value.ptr, n);
  int changed = 0;
  for (uint32_t i = 0; i < n;) {
    uint32_t j = i;
    while (j < n && digit(v[j])) j++;
    if (j - i >= 4) {
      for (uint32_t k = i; k < j; k++) v[k] = '*';
      changed = 1;
    }
    i = j > i ? j : i + 1;
  }
  for (uint32_t i = 0; i < n; i++) {
    if (v[i] != '@') continue;
    uint32_t s = i;
    while (s > 0 && local(v[s - 1])) s--;
    for (uint32_t k = s; k < i; k++) { v[k] = '*'; changed = 1; }
  }
  if (!changed) return ETL_KEEP;
  etl_out o;
  if (!etl_out_begin(&o, len + 64)) return ETL_REJECT;
  etl_bytes masked = {v, (int32_t)n};
  etl_out_record(&o, &r, r.key, masked, 0, 0, 0);
  return etl_out_end(&o);
}
