/* Segments: the physical or overlay L2 segments behind a network (Neutron's
 * segments extension). Every network has one, made from its provider
 * attributes; an external network may get more (one per physical external
 * network), which is how Lepton abstracts several physical external networks
 * behind the one network tenants see. Segment identifiers (VNIs, VLAN ids, a
 * flat physical network) are allocated uniquely through the store. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "base/xalloc.h"
#include "server/resources.h"

static const struct attr_def segment_attrs[] = {
	{"network_id", AK_UUID, AF_POST | AF_REQUIRED | AF_ADMIN_SET, NULL, 0},
	{"network_type", AK_STRING, AF_POST | AF_REQUIRED | AF_ADMIN_SET, NULL, 32},
	{"physical_network", AK_STRING, AF_POST | AF_NULLABLE | AF_ADMIN_SET, "null", 64},
	{"segmentation_id", AK_INT, AF_POST | AF_NULLABLE | AF_ADMIN_SET, "null", 0},
	{NULL, 0, 0, NULL, 0},
};

/* Allocation kinds: one namespace of integers per segmentation space. */
static char *segment_kind(const char *type, const char *physnet)
{
	if (streq(type, "vxlan"))
		return xstrdup("vni");
	if (streq(type, "vlan"))
		return xasprintf("vlan:%s", physnet);
	return xasprintf("flat:%s", physnet);
}

/* Checks the segment's type, physical network and id and takes the id. */
int segment_allocate(struct api_ctx *ctx, json_t *doc, const char *project_id)
{
	const char *type = doc_str(doc, "network_type");
	const char *phys = json_string_value(json_object_get(doc, "physical_network"));
	json_t *jseg = json_object_get(doc, "segmentation_id");
	const char *id = doc_str(doc, "id");
	_cleanup_free_ char *kind = NULL;
	int64_t seg;
	int r;

	if (!streq(type, "vxlan") && !streq(type, "vlan") && !streq(type, "flat"))
		return api_invalid_input(&ctx->err,
					 "Invalid input for operation: network_type value '%s' not "
					 "supported.",
					 type);
	if (streq(type, "vxlan")) {
		if (phys)
			return api_invalid_input(&ctx->err,
						 "Invalid input for operation: physical_network "
						 "specified for vxlan network.");
	} else if (!phys || !*phys) {
		return api_invalid_input(&ctx->err,
					 "Invalid input for operation: physical_network required "
					 "for %s provider network.",
					 type);
	}
	kind = segment_kind(type, phys);
	if (streq(type, "flat")) {
		if (jseg && !json_is_null(jseg))
			return api_invalid_input(&ctx->err,
						 "Invalid input for operation: segmentation_id "
						 "specified for flat provider network.");
		r = store_alloc_take(ctx->store, kind, 0, id);
		if (r == -EEXIST)
			return api_conflict(&ctx->err, "FlatNetworkInUse",
					    "Unable to create the flat network. Physical network "
					    "%s is in use.",
					    phys);
		seg = -1;
	} else if (jseg && !json_is_null(jseg)) {
		int64_t max = streq(type, "vlan") ? 4094 : 16777215;

		seg = json_integer_value(jseg);
		if (seg < 1 || seg > max)
			return api_invalid_input(
				&ctx->err,
				"Invalid input for operation: segmentation_id %lld "
				"out of range (1 through %lld).",
				(long long) seg, (long long) max);
		r = store_alloc_take(ctx->store, kind, seg, id);
		if (r == -EEXIST) {
			if (streq(type, "vlan"))
				return api_conflict(&ctx->err, "VlanIdInUse",
						    "Unable to create the network. The VLAN %lld "
						    "on physical network %s is in use.",
						    (long long) seg, phys);
			return api_conflict(&ctx->err, "TunnelIdInUse",
					    "Unable to create the network. The tunnel ID %lld is "
					    "in use.",
					    (long long) seg);
		}
	} else {
		if (streq(type, "vlan"))
			return api_invalid_input(&ctx->err,
						 "Invalid input for operation: segmentation_id "
						 "required for vlan provider network.");
		r = segment_ranges_allocate(ctx, project_id, &seg);
		if (r == -ENOSPC)
			return api_fail(&ctx->err, 503, "NoNetworkAvailable",
					"Unable to create the network. No tenant network is "
					"available for allocation.");
		if (r >= 0)
			r = store_alloc_take(ctx->store, kind, seg, id);
	}
	if (r < 0)
		return api_fail(&ctx->err, 500, "InternalServerError", "segment allocation failed");
	json_object_set_new(doc, "physical_network", phys ? json_string(phys) : json_null());
	json_object_set_new(doc, "segmentation_id", seg >= 0 ? json_integer(seg) : json_null());
	return 0;
}

int segment_release(struct api_ctx *ctx, json_t *seg)
{
	_cleanup_free_ char *kind =
		segment_kind(doc_str(seg, "network_type"), doc_str(seg, "physical_network"));
	json_t *id = json_object_get(seg, "segmentation_id");

	if (store_alloc_release(ctx->store, kind,
				json_is_integer(id) ? json_integer_value(id) : 0) < 0)
		return api_fail(&ctx->err, 500, "InternalServerError", "store write failed");
	return 0;
}

json_t *segments_of_network(struct api_ctx *ctx, const char *network_id)
{
	json_t *all = store_list(ctx->store, "segment"), *out = json_array(), *s;
	size_t i;

	json_array_foreach(all, i, s) {
		if (streq(doc_str(s, "network_id"), network_id))
			json_array_append(out, s);
	}
	json_decref(all);
	return out;
}

static int segment_create(struct api_ctx *ctx, json_t *doc)
{
	json_t *net = store_get(ctx->store, "network", doc_str(doc, "network_id"));
	int r;

	if (!net)
		return api_fail(&ctx->err, 404, "NetworkNotFound", "Network %s could not be found.",
				doc_str(doc, "network_id"));
	/* Segments belong to the operator, not to a project; a VNI comes from
	 * the network's project's ranges. */
	json_object_set_new(doc, "project_id", json_string(""));
	json_object_set_new(doc, "tenant_id", json_string(""));
	r = segment_allocate(ctx, doc, doc_str(net, "project_id"));
	json_decref(net);
	return r;
}

static int segment_remove(struct api_ctx *ctx, json_t *doc)
{
	const char *id = doc_str(doc, "id"), *net_id = doc_str(doc, "network_id");
	json_t *subnets = store_list(ctx->store, "subnet"), *s, *segs;
	size_t i;
	bool used = false;

	json_array_foreach(subnets, i, s)
		used = used || streq(doc_str(s, "segment_id"), id);
	json_decref(subnets);
	if (used)
		return api_conflict(&ctx->err, "SegmentInUse",
				    "Segment '%s' cannot be deleted: one or more subnets are "
				    "associated with it.",
				    id);
	segs = segments_of_network(ctx, net_id);
	used = json_array_size(segs) <= 1 || streq(doc_str(json_array_get(segs, 0), "id"), id);
	json_decref(segs);
	if (used)
		return api_conflict(&ctx->err, "SegmentInUse",
				    "Segment '%s' is the primary segment of network %s; delete the "
				    "network instead.",
				    id, net_id);
	return segment_release(ctx, doc);
}

const struct resource_def segment_def = {
	.type = "segment",
	.collection = "segments",
	.title = "Segment",
	.not_found = "SegmentNotFound",
	.attrs = segment_attrs,
	.create = segment_create,
	.remove = segment_remove,
};
