// libcurl from Debian's libcurl4-openssl-dev, reached only through this module (imported by HTTP alone).
// curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call: these typed wrappers can be.
#include <curl/curl.h>

typedef size_t (*idp_data_callback)(char *buffer, size_t size, size_t nitems, void *userdata);
typedef int (*idp_xferinfo_callback)(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow);

static inline CURLcode idp_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode idp_setopt_off(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode idp_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode idp_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode idp_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode idp_setopt_data_callback(CURL *handle, CURLoption option, idp_data_callback value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode idp_setopt_xferinfo_callback(CURL *handle, idp_xferinfo_callback value) {
    return curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, value);
}
// The blob is copied by libcurl (CURL_BLOB_COPY), so the caller's buffer may go away after the call.
static inline CURLcode idp_setopt_blob(CURL *handle, CURLoption option, void *data, size_t length) {
    struct curl_blob blob;
    blob.data = data;
    blob.len = length;
    blob.flags = CURL_BLOB_COPY;
    return curl_easy_setopt(handle, option, &blob);
}
static inline CURLcode idp_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}
static inline CURLcode idp_getinfo_off(CURL *handle, CURLINFO info, curl_off_t *value) {
    return curl_easy_getinfo(handle, info, value);
}
static inline size_t idp_readfunc_abort(void) { return CURL_READFUNC_ABORT; }
