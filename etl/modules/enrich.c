/* Adds a header to every record: `enriched-by` with the module's config as its value
 * ("rustmq-etl" without one). */
#include "rustmq_etl.h"

static const uint8_t *tag = (const uint8_t *)"rustmq-etl";
static uint32_t tag_len = 10;
static const char NAME[] = "enriched-by";

__attribute__((export_name("init"))) int32_t init(uint32_t ptr, uint32_t len) {
  if (len) { tag = (const uint8_t *)ptr; tag_len = len; }
  return 0;
}

__attribute__((export_name("process"))) int64_t process(uint32_t ptr, uint32_t len) {
  etl_record r;
  if (!etl_parse(ptr, len, &r)) return ETL_BAD_INPUT;
  uint32_t name_len = sizeof(NAME) - 1;
  uint32_t extra_len = 4 + name_len + 4 + tag_len;
  uint8_t *h = (uint8_t *)alloc(extra_len);
  if (!h) return ETL_REJECT;
  etl_put_u32(h, name_len);
  etl_copy(h + 4, (const uint8_t *)NAME, name_len);
  etl_put_u32(h + 4 + name_len, tag_len);
  etl_copy(h + 8 + name_len, tag, tag_len);
  etl_out o;
  if (!etl_out_begin(&o, len + extra_len + 32)) return ETL_REJECT;
  etl_out_record(&o, &r, r.key, r.value, h, extra_len, 1);
  return etl_out_end(&o);
}
