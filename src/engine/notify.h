// Notification of a finished reconcile (and of alerts between reconciles, alertDocument): the JSON
// summary POSTed to every notify.urls entry (Content-Type application/json; `Authorization: Bearer
// <token>` when notify.token_file is set). A failed notification is logged and recorded in the
// report, never fatal: the report files and the catalog hold the same facts.
#pragma once

#include <stop_token>
#include <string_view>

#include "config/config.h"
#include "core/clock.h"
#include "core/http.h"
#include "core/json_util.h"

namespace ocpvdr::engine {

// One {"url", "status"} or {"url", "error"} per URL, in order. Non-2xx answers count as errors.
Json notifyAll(HttpClient& http, const config::Notify& notify, const Json& summary,
               std::stop_token stop = {});

// An alert between reconciles, POSTed by notifyAll to the same URLs: `fields` plus
// {"type": "alert", "alert": <name>, "time": <RFC 3339>} — e.g. "extent-checksum-mismatch" with
// pv, file, offset, length and message (engine/key_sync.h).
Json alertDocument(std::string_view name, const Json& fields, SystemTime at);

}  // namespace ocpvdr::engine
