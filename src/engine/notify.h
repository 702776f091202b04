// Notification of a finished reconcile, by webhook and by mail, and of alerts between reconciles
// (alertDocument, POSTed like a summary):
//   - notifyAll: the JSON summary POSTed to every notify.urls entry (Content-Type
//     application/json; `Authorization: Bearer <token>` when notify.token_file is set);
//   - mailReport: the report as text (report.md) mailed to notify.email.to with a subject that
//     says the result and what needs attention (core/mail.h; CurlSmtpSender in production).
// A failed notification is logged and recorded in the report, never fatal: the report files and
// the catalog hold the same facts.
#pragma once

#include <stop_token>
#include <string>
#include <string_view>

#include "config/config.h"
#include "core/clock.h"
#include "core/http.h"
#include "core/json_util.h"
#include "core/mail.h"

namespace ocpvdr::engine {

// Where reports go; a null member is a channel that is off (not configured, or --no-notify).
struct NotifyChannels {
  HttpClient* http = nullptr;
  MailSender* mail = nullptr;
};

// One {"url", "status"} or {"url", "error"} per URL, in order. Non-2xx answers count as errors.
Json notifyAll(HttpClient& http, const config::Notify& notify, const Json& summary,
               std::stop_token stop = {});

// "[ocpv-dr] reconcile run 12: failed — 2 failed, 1 over RPO, 3 orphans" from a reconcile
// summary (ReconcileReport::summary()).
std::string reconcileMailSubject(const config::NotifyEmail& email, const Json& summary);

// Mails `body` to notify.email.to; {"email": "<to, ...>", "status": "sent"} or
// {"email": ..., "error": "<message>", "kind": "<error kind>"}.
Json mailReport(MailSender& mail, const config::NotifyEmail& email, const std::string& subject,
                const std::string& body, std::stop_token stop = {});

// An alert between reconciles, POSTed by notifyAll to the same URLs: `fields` plus
// {"type": "alert", "alert": <name>, "time": <RFC 3339>} — e.g. "extent-checksum-mismatch" with
// pv, file, offset, length and message (engine/key_sync.h).
Json alertDocument(std::string_view name, const Json& fields, SystemTime at);

}  // namespace ocpvdr::engine
