// CurlSmtpSender (see curl_smtp.h).
#include "core/curl_smtp.h"

#include <curl/curl.h>

#include <cstring>
#include <memory>

#include "core/curl_http.h"
#include "core/files.h"
#include "core/log.h"
#include "core/text.h"

namespace ocpvdr {

namespace {

struct SmtpUpload {
  std::string_view data;
  size_t offset = 0;
};

size_t readSmtpBody(char* buf, size_t size, size_t n, void* userdata) {
  auto* u = static_cast<SmtpUpload*>(userdata);
  const size_t room = size * n;
  const size_t left = u->data.size() - u->offset;
  const size_t len = left < room ? left : room;
  std::memcpy(buf, u->data.data() + u->offset, len);
  u->offset += len;
  return len;
}

int onSmtpProgress(void* userdata, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* stop = static_cast<const std::stop_token*>(userdata);
  return stop->stop_requested() ? 1 : 0;
}

// The user (line 1) and password (line 2) of the auth file.
Result<std::pair<std::string, std::string>> readCredentials(const std::string& path) {
  auto text = readFile(path);
  if (!text.ok())
    return invalidError("cannot read notify.email.auth_file " + path + ": " + text.error().message);
  auto lines = split(*text, '\n');
  if (lines.size() < 2 || trim(lines[0]).empty())
    return invalidError("notify.email.auth_file " + path +
                        " must hold the user on its first line and the password on its second");
  std::string user(trim(lines[0]));
  std::string password(trimRight(lines[1]));
  log::addSecret(password);
  return std::make_pair(user, password);
}

// What went wrong, in the words an administrator needs, with the error's kind.
Error smtpError(CURLcode rc, const char* detail, const std::string& url) {
  std::string msg = "SMTP to " + url + ": " + curl_easy_strerror(rc);
  if (detail != nullptr && detail[0] != '\0') msg += " (" + std::string(detail) + ")";
  switch (rc) {
    case CURLE_LOGIN_DENIED:
      return refusedError(msg + " — check notify.email.auth_file");
    case CURLE_USE_SSL_FAILED:
      return refusedError(msg +
                          " — the server does not offer STARTTLS; "
                          "notify.email.starttls is required");
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_GOT_NOTHING:
      return retryableError(msg);
    case CURLE_PEER_FAILED_VERIFICATION:
      return refusedError(msg +
                          " — the server's certificate is not trusted (notify.email.ca_file)");
    case CURLE_ABORTED_BY_CALLBACK:
      return retryableError("SMTP to " + url + ": stopped");
    default:
      return terminalError(msg);
  }
}

}  // namespace

CurlSmtpSender::CurlSmtpSender(SmtpSettings settings) : s_(std::move(settings)) {}

Status CurlSmtpSender::send(const MailMessage& m, std::stop_token stop) {
  if (!plausibleMailAddress(m.from))
    return invalidError("mail sender \"" + m.from + "\" is not an address");
  if (m.to.empty()) return invalidError("mail has no recipient");
  for (const auto& r : m.to)
    if (!plausibleMailAddress(r))
      return invalidError("mail recipient \"" + r + "\" is not an address");
  std::string user, password;
  if (!s_.authFile.empty()) {
    auto creds = readCredentials(s_.authFile);
    if (!creds.ok()) return creds.error();
    std::tie(user, password) = *creds;
  }
  const std::string text = formatMessage(m, std::chrono::system_clock::now(), s_.heloName);

  std::unique_ptr<CURL, void (*)(CURL*)> h(curl_easy_init(), curl_easy_cleanup);
  if (!h) return terminalError("SMTP: curl_easy_init failed");
  curl_slist* rcpt = nullptr;
  for (const auto& r : m.to) rcpt = curl_slist_append(rcpt, ("<" + r + ">").c_str());
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> rcptGuard(rcpt, curl_slist_free_all);
  SmtpUpload up{text};
  char errbuf[CURL_ERROR_SIZE] = {0};
  const std::string url = s_.url + "/" + s_.heloName;  // the path is curl's EHLO name
  CURL* c = h.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, ("<" + m.from + ">").c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_READFUNCTION, &readSmtpBody);
  curl_easy_setopt(c, CURLOPT_READDATA, &up);
  curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(text.size()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(s_.timeout.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &onSmtpProgress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &stop);
  if (s_.url.starts_with("smtp://") && s_.starttls)
    curl_easy_setopt(c, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
  if (!user.empty()) {
    curl_easy_setopt(c, CURLOPT_USERNAME, user.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, password.c_str());
  }
  setCurlTlsOptions(c, s_.tls);
  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) return smtpError(rc, errbuf, s_.url);
  return {};
}

}  // namespace ocpvdr
