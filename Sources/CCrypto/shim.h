// OpenSSL's libcrypto (apt: libssl-dev): MD5, the checksum the datasets' publishers give.
#include <openssl/evp.h>
