# Debian 12 packages only. BoringSSL comes from android-libboringssl-dev and
# must never share a binary with OpenSSL's libcrypto.
set(ATHM_BORINGSSL_INCLUDE /usr/include/android CACHE PATH "BoringSSL headers")
set(ATHM_BORINGSSL_LIBDIR /usr/lib/x86_64-linux-gnu/android CACHE PATH "BoringSSL libraries")

if(NOT EXISTS "${ATHM_BORINGSSL_INCLUDE}/openssl/is_boringssl.h")
  message(FATAL_ERROR "BoringSSL headers not found in ${ATHM_BORINGSSL_INCLUDE}; run scripts/install-deps.sh")
endif()

add_library(boringssl::crypto SHARED IMPORTED GLOBAL)
set_target_properties(boringssl::crypto PROPERTIES
  IMPORTED_LOCATION "${ATHM_BORINGSSL_LIBDIR}/libcrypto.so"
  IMPORTED_NO_SONAME FALSE)
# BEFORE so that these headers win over OpenSSL's in /usr/include.
target_include_directories(boringssl::crypto BEFORE INTERFACE "${ATHM_BORINGSSL_INCLUDE}")

add_library(boringssl::ssl SHARED IMPORTED GLOBAL)
set_target_properties(boringssl::ssl PROPERTIES
  IMPORTED_LOCATION "${ATHM_BORINGSSL_LIBDIR}/libssl.so")
target_link_libraries(boringssl::ssl INTERFACE boringssl::crypto)

# Binaries find BoringSSL without LD_LIBRARY_PATH, in the build tree and installed.
set(CMAKE_BUILD_RPATH "${ATHM_BORINGSSL_LIBDIR}")
set(CMAKE_INSTALL_RPATH "${ATHM_BORINGSSL_LIBDIR}")

find_package(Threads REQUIRED)
