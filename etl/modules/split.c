/* Splits a value into one record per line (empty lines are skipped); the key, timestamp and
 * headers are copied into each. A value without a newline is kept as it is. */
#include "rustmq_etl.h"

__attribute__((export_name("process"))) int64_t process(uint32_t ptr, uint32_t len) {
  etl_record r;
  if (!etl_parse(ptr, len, &r)) return ETL_BAD_INPUT;
  if (r.value.len <= 0) return ETL_KEEP;
  const uint8_t *v = r.value.ptr;
  uint32_t n = (uint32_t)r.value.len, lines = 0, has_newline = 0;
  for (uint32_t i = 0; i < n; i++) if (v[i] == '\n') has_newline = 1;
  if (!has_newline) return ETL_KEEP;
  for (uint32_t i = 0; i <= n; i++) if (i == n || v[i] == '\n') lines++;
  uint32_t per = 8 + 4 + (r.key.len > 0 ? (uint32_t)r.key.len : 0) + 4 + 4 + r.headers_len;
  etl_out o;
  if (!etl_out_begin(&o, lines * per + n)) return ETL_REJECT;
  uint32_t start = 0;
  for (uint32_t i = 0; i <= n; i++) {
    if (i == n || v[i] == '\n') {
      if (i > start) {
        etl_bytes line = {v + start, (int32_t)(i - start)};
        etl_out_record(&o, &r, r.key, line, 0, 0, 0);
      }
      start = i + 1;
    }
  }
  return etl_out_end(&o);
}
