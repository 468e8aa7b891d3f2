/* Network segment ranges (network-segment-range, admin only): ranges of
 * VXLAN network identifiers that tenant networks take theirs from. A
 * network of project P gets the first free VNI of P's ranges, else of the
 * shared ranges, else of the server's own range (vni_ranges); VNIs in a
 * project's range go to that project only. A range with
 * networks in it cannot be deleted, nor narrowed where Neutron refuses it
 * (a new minimum at or above its lowest VNI in use, or a new maximum at or
 * below its highest). VLAN ids are never allocated by the server (a VLAN
 * network names its own), so ranges are of type vxlan only. */
#include <errno.h>
#include "server/resources.h"

#define VNI_MAX 16777215

static const struct attr_def range_attrs[] = {
	{"default", AK_BOOL, 0, "false", 0},
	{"shared", AK_BOOL, AF_POST, "true", 0},
	{"network_type", AK_STRING, AF_POST | AF_REQUIRED, NULL, 32},
	{"physical_network", AK_STRING, AF_POST | AF_NULLABLE, "null", 64},
	{"minimum", AK_INT, AF_RW | AF_REQUIRED, NULL, 0},
	{"maximum", AK_INT, AF_RW | AF_REQUIRED, NULL, 0},
	{NULL, 0, 0, NULL, 0},
};

/* The lowest and highest VNI in use within [min, max]; false when none. */
static bool in_use(struct api_ctx *ctx, json_int_t min, json_int_t max, json_int_t *ret_lo,
		   json_int_t *ret_hi)
{
	json_t *segs = store_list_shared(ctx->store, "segment"), *s;
	json_int_t lo = VNI_MAX + 1, hi = 0;
	size_t i;

	json_array_foreach(segs, i, s) {
		json_int_t v = json_integer_value(json_object_get(s, "segmentation_id"));

		if (streq(doc_str(s, "network_type"), "vxlan") && v >= min && v <= max) {
			lo = v < lo ? v : lo;
			hi = v > hi ? v : hi;
		}
	}
	json_decref(segs);
	*ret_lo = lo;
	*ret_hi = hi;
	return hi > 0;
}

static int check_bounds(struct api_ctx *ctx, json_t *doc)
{
	json_int_t min = json_integer_value(json_object_get(doc, "minimum"));
	json_int_t max = json_integer_value(json_object_get(doc, "maximum"));

	if (min < 1 || max > VNI_MAX || min > max)
		return api_bad_request(&ctx->err,
				       "Invalid network segment range: minimum %lld and maximum "
				       "%lld must satisfy 1 <= minimum <= maximum <= %d.",
				       (long long) min, (long long) max, VNI_MAX);
	return 0;
}

static int range_create(struct api_ctx *ctx, json_t *doc)
{
	const char *type = doc_str(doc, "network_type");
	bool shared = doc_bool(doc, "shared");

	if (!ctx->is_admin)
		return api_forbidden(&ctx->err,
				     "(rule:create_network_segment_range) is disallowed by policy");
	if (!streq(type, "vxlan"))
		return api_bad_request(&ctx->err,
				       "Network type %s does not support network segment ranges.",
				       type);
	if (!json_is_null(json_object_get(doc, "physical_network")) &&
	    *doc_str(doc, "physical_network"))
		return api_bad_request(&ctx->err, "A vxlan range has no physical_network.");
	json_object_set_new(doc, "physical_network", json_null());
	/* A shared range is no project's; a project's range is not shared. */
	if (shared != !*doc_str(doc, "project_id"))
		return api_bad_request(&ctx->err, shared ? "A shared range has no project_id."
							 : "A range that is not shared needs a "
							   "project_id.");
	return check_bounds(ctx, doc);
}

static int range_update(struct api_ctx *ctx, json_t *old, json_t *doc, json_t *changes)
{
	json_int_t lo, hi;
	int r = check_bounds(ctx, doc);

	(void) changes;
	if (r < 0)
		return r;
	if (in_use(ctx, json_integer_value(json_object_get(old, "minimum")),
		   json_integer_value(json_object_get(old, "maximum")), &lo, &hi) &&
	    (json_integer_value(json_object_get(doc, "minimum")) >= lo ||
	     json_integer_value(json_object_get(doc, "maximum")) <= hi))
		return api_conflict(&ctx->err, "NetworkSegmentRangeReferencedByProject",
				    "Network segment range %s is referenced by one or more "
				    "networks (VNIs %lld to %lld in use).",
				    doc_str(doc, "id"), (long long) lo, (long long) hi);
	return 0;
}

static int range_remove(struct api_ctx *ctx, json_t *doc)
{
	json_int_t lo, hi;

	if (in_use(ctx, json_integer_value(json_object_get(doc, "minimum")),
		   json_integer_value(json_object_get(doc, "maximum")), &lo, &hi))
		return api_conflict(&ctx->err, "NetworkSegmentRangeReferencedByProject",
				    "Network segment range %s is referenced by one or more "
				    "networks.",
				    doc_str(doc, "id"));
	return 0;
}

/* The first free VNI in [min, max] outside every project's range (those
 * are kept for their projects, as Neutron keeps them). */
static int first_free_shared(struct api_ctx *ctx, json_t *ranges, int64_t min, int64_t max,
			     int64_t *ret)
{
	while (min <= max) {
		int64_t end = max;
		json_t *g;
		size_t i;
		int r;

		/* Skip a project range that holds min; stop before the next. */
		json_array_foreach(ranges, i, g) {
			int64_t lo = json_integer_value(json_object_get(g, "minimum"));
			int64_t hi = json_integer_value(json_object_get(g, "maximum"));

			if (doc_bool(g, "shared"))
				continue;
			if (lo <= min && min <= hi) {
				min = hi + 1;
				end = -1;
				break;
			}
			if (lo > min && lo - 1 < end)
				end = lo - 1;
		}
		if (end < min)
			continue;
		r = store_alloc_first_free(ctx->store, "vni", min, end, ret);
		if (r != -ENOSPC)
			return r;
		min = end + 1;
	}
	return -ENOSPC;
}

int segment_ranges_allocate(struct api_ctx *ctx, const char *project_id, int64_t *ret)
{
	json_t *ranges = store_list_shared(ctx->store, "network_segment_range"), *g;
	int r = -ENOSPC;
	size_t i;

	/* The project's ranges, then the shared ones, then the server's. */
	for (int pass = 0; pass < 2 && r == -ENOSPC; pass++) {
		json_array_foreach(ranges, i, g) {
			bool mine = *project_id && !doc_bool(g, "shared") &&
				    streq(doc_str(g, "project_id"), project_id);
			int64_t lo = json_integer_value(json_object_get(g, "minimum"));
			int64_t hi = json_integer_value(json_object_get(g, "maximum"));

			if (pass == 0 ? !mine : !doc_bool(g, "shared"))
				continue;
			r = pass == 0 ? store_alloc_first_free(ctx->store, "vni", lo, hi, ret)
				      : first_free_shared(ctx, ranges, lo, hi, ret);
			if (r != -ENOSPC)
				break;
		}
	}
	if (r == -ENOSPC)
		r = first_free_shared(ctx, ranges, ctx->cfg->vni_min, ctx->cfg->vni_max, ret);
	json_decref(ranges);
	return r;
}

const struct resource_def network_segment_range_def = {
	.type = "network_segment_range",
	.collection = "network-segment-ranges",
	.json_key = "network_segment_ranges",
	.title = "Network segment range",
	.not_found = "NetworkSegmentRangeNotFound",
	.admin_only = true,
	.attrs = range_attrs,
	.create = range_create,
	.update = range_update,
	.remove = range_remove,
};
