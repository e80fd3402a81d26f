# `cpack -G DEB` (run in the build folder) makes udos_<version>_<arch>.deb
# holding everything `cmake --install` puts under /usr. Its Depends line is
# computed by dpkg-shlibdeps from the ELF files it holds, so it names the
# runtime packages of this Debian release with their minimum versions
# (bookworm: liburing2, libzstd1, zlib1g, librocksdb7.8, libxxhash0,
# libssl3, libc6); tests/install checks it against dpkg -S.
set(CPACK_PACKAGE_NAME udos)
set(CPACK_PACKAGE_VENDOR udos)
set(CPACK_PACKAGE_CONTACT "udos maintainers <maintainers@udos.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "content-addressed object store for files")
set(CPACK_PACKAGE_DESCRIPTION
  "udos keeps each file's content once, keyed by its SHA-256, first as a
loose file, then in append-only packs compressed per object (zstd or
zlib), with a RocksDB index. The package holds the udos command, the
shared and static libraries, the C headers, udos.pc and a CMake package.")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
include(CPack)
