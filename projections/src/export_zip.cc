// ZipFiles / UnzipFiles over libzip (Debian libzip-dev): in memory, so the HTTP API can return a
// zip without temporary files and the verifier can read one it was handed.

#include <zip.h>

#include <memory>
#include <string>

#include "projections/export.h"

namespace convledger::projections {
namespace {

// 1980-01-01 00:00 local: the earliest DOS time, so the same files give the same zip.
constexpr time_t kFixedMtime = 315532800;

std::string ZipError(zip_error_t* e) {
  std::string msg = zip_error_strerror(e);
  zip_error_fini(e);
  return msg;
}

}  // namespace

Result<std::string> ZipFiles(const std::vector<ExportFile>& files) {
  zip_error_t err;
  zip_error_init(&err);
  zip_source_t* out = zip_source_buffer_create(nullptr, 0, 0, &err);
  if (!out) return Status::IOError("zip_failed: " + ZipError(&err));
  zip_t* za = zip_open_from_source(out, ZIP_TRUNCATE, &err);
  if (!za) {
    zip_source_free(out);
    return Status::IOError("zip_failed: " + ZipError(&err));
  }
  // Keep `out` alive past zip_close, which writes the archive into it.
  zip_source_keep(out);
  auto fail = [&](const std::string& what) -> Status {
    std::string msg = what + ": " + zip_strerror(za);
    zip_discard(za);
    zip_source_free(out);
    return Status::IOError("zip_failed: " + msg);
  };
  for (const ExportFile& f : files) {
    // libzip reads the data at zip_close; the vector outlives that.
    zip_source_t* src = zip_source_buffer(za, f.bytes.data(), f.bytes.size(), 0);
    if (!src) return fail("source for " + f.path);
    const zip_int64_t idx = zip_file_add(za, f.path.c_str(), src, ZIP_FL_ENC_UTF_8);
    if (idx < 0) {
      zip_source_free(src);
      return fail("add " + f.path);
    }
    if (zip_file_set_mtime(za, static_cast<zip_uint64_t>(idx), kFixedMtime, 0) < 0)
      return fail("mtime " + f.path);
  }
  if (zip_close(za) < 0) return fail("close");
  std::string bytes;
  if (zip_source_open(out) < 0) {
    zip_source_free(out);
    return Status::IOError("zip_failed: cannot reopen the archive buffer");
  }
  char buf[64 * 1024];
  zip_int64_t n;
  while ((n = zip_source_read(out, buf, sizeof buf)) > 0) bytes.append(buf, static_cast<size_t>(n));
  zip_source_close(out);
  zip_source_free(out);
  if (n < 0) return Status::IOError("zip_failed: cannot read the archive buffer");
  return bytes;
}

Result<std::vector<ExportFile>> UnzipFiles(std::string_view zip, uint64_t max_entry_bytes) {
  zip_error_t err;
  zip_error_init(&err);
  zip_source_t* src = zip_source_buffer_create(zip.data(), zip.size(), 0, &err);
  if (!src) return Status::Corruption("bad_zip", ZipError(&err));
  zip_t* za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &err);
  if (!za) {
    zip_source_free(src);
    return Status::Corruption("bad_zip", ZipError(&err));
  }
  std::vector<ExportFile> files;
  Status st;
  const zip_int64_t count = zip_get_num_entries(za, 0);
  for (zip_int64_t i = 0; i < count && st.ok(); ++i) {
    zip_stat_t zs;
    if (zip_stat_index(za, static_cast<zip_uint64_t>(i), 0, &zs) < 0) {
      st = Status::Corruption("bad_zip", zip_strerror(za));
      break;
    }
    const std::string name = zs.name ? zs.name : "";
    if (name.empty() || name.back() == '/') continue;  // directories
    if (zs.size > max_entry_bytes) {
      st = Status::Corruption("bad_zip", name + ": entry too large");
      break;
    }
    zip_file_t* zf = zip_fopen_index(za, static_cast<zip_uint64_t>(i), 0);
    if (!zf) {
      st = Status::Corruption("bad_zip", name + ": " + zip_strerror(za));
      break;
    }
    ExportFile f{name, std::string(zs.size, '\0')};
    const zip_int64_t n = zip_fread(zf, f.bytes.data(), zs.size);
    // zip_fclose reports the CRC check of the entry.
    const int closed = zip_fclose(zf);
    if (n < 0 || static_cast<zip_uint64_t>(n) != zs.size || closed != 0) {
      st = Status::Corruption("bad_zip", name + ": cannot read (CRC or data error)");
      break;
    }
    files.push_back(std::move(f));
  }
  zip_discard(za);  // also frees `src`
  if (!st.ok()) return st;
  return files;
}

}  // namespace convledger::projections
