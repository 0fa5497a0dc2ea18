#include "taogate/k8s/watch_stream.h"

#include "absl/strings/str_cat.h"

namespace taogate::k8s {

absl::Status LineSplitter::Feed(std::string_view chunk, const LineFn& on_line) {
  while (!chunk.empty()) {
    size_t nl = chunk.find('\n');
    std::string_view piece = chunk.substr(0, nl);
    if (partial_.size() + piece.size() > max_line_) {
      partial_.clear();
      return absl::ResourceExhaustedError(
          absl::StrCat("watch event longer than ", max_line_, " bytes"));
    }
    if (nl == std::string_view::npos) {
      partial_.append(piece);
      return absl::OkStatus();
    }
    chunk.remove_prefix(nl + 1);
    absl::Status st;
    if (partial_.empty()) {
      if (!piece.empty() && piece != "\r") st = on_line(piece);
    } else {
      partial_.append(piece);
      std::string line = std::move(partial_);
      partial_.clear();
      st = on_line(line);
    }
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::StatusOr<WatchEvent> ParseWatchEvent(std::string_view line) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::DataLossError("watch event is not JSON");
  if (!j.is_object()) return absl::DataLossError("watch event is not a JSON object");
  auto type = j.find("type");
  auto object = j.find("object");
  if (type == j.end() || !type->is_string()) return absl::DataLossError("watch event has no type");
  if (object == j.end() || !object->is_object()) {
    return absl::DataLossError("watch event has no object");
  }
  const std::string& t = type->get_ref<const std::string&>();
  WatchEvent ev;
  if (t == "ADDED") ev.type = EventType::kAdded;
  else if (t == "MODIFIED") ev.type = EventType::kModified;
  else if (t == "DELETED") ev.type = EventType::kDeleted;
  else if (t == "BOOKMARK") ev.type = EventType::kBookmark;
  else if (t == "ERROR") ev.type = EventType::kError;
  else return absl::DataLossError(absl::StrCat("watch event of unknown type '", t.substr(0, 32), "'"));
  ev.object = std::move(*object);
  return ev;
}

std::string ResourceVersionOf(const nlohmann::json& object) {
  if (!object.is_object()) return "";
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return "";
  auto rv = meta->find("resourceVersion");
  if (rv == meta->end() || !rv->is_string()) return "";
  return rv->get<std::string>();
}

int StatusCodeOf(const nlohmann::json& status) {
  if (!status.is_object()) return 0;
  auto code = status.find("code");
  if (code == status.end() || !code->is_number_integer()) return 0;
  return code->get<int>();
}

}  // namespace taogate::k8s
