// Notification of a finished reconcile: the JSON summary POSTed to every notify.urls entry
// (Content-Type application/json; `Authorization: Bearer <token>` when notify.token_file is set).
// A failed notification is logged and recorded in the report, never fatal: the report files and
// the catalog hold the same facts.
#pragma once

#include <stop_token>

#include "config/config.h"
#include "core/http.h"
#include "core/json_util.h"

namespace ocpvdr::engine {

// One {"url", "status"} or {"url", "error"} per URL, in order. Non-2xx answers count as errors.
Json notifyAll(HttpClient& http, const config::Notify& notify, const Json& summary,
               std::stop_token stop = {});

}  // namespace ocpvdr::engine
