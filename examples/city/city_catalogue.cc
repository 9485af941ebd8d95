#include "examples/city/city_catalogue.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <cereal/archives/portable_binary.hpp>
#include <cereal/types/string.hpp>

#include "common/hash.h"

namespace otinish::city {
namespace {

// Collects every problem of a file as "file:line:column: message".
class Problems {
 public:
  explicit Problems(std::string file) : file_(std::move(file)) {}
  void add(const YAML::Node& at, const std::string& message) {
    const YAML::Mark m = at.Mark();
    text_ += file_ + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1) + ": " + message + "\n";
  }
  bool empty() const { return text_.empty(); }
  const std::string& text() const { return text_; }

 private:
  std::string file_;
  std::string text_;
};

std::string str(const YAML::Node& n, const char* key, Problems& p) {
  const YAML::Node v = n[key];
  if (!v || !v.IsScalar()) {
    p.add(n, std::string("missing '") + key + "'");
    return {};
  }
  return v.as<std::string>();
}

void names(const YAML::Node& n, std::string* kk, std::string* ru, std::string* en, Problems& p) {
  const YAML::Node names = n["names"];
  if (!names || !names.IsMap()) {
    p.add(n, "missing 'names' {kk, ru, en}");
    return;
  }
  *kk = str(names, "kk", p);
  *ru = str(names, "ru", p);
  *en = str(names, "en", p);
}

Result<std::string> read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("catalogue file " + path + " does not exist");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

Result<YAML::Node> parse_yaml(const std::string& text, const std::string& name) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(name + ":" + std::to_string(e.mark.line + 1) + ":" +
                                   std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
}

std::string content_hash(const std::string& topics, const std::string& agencies) {
  Blake2b h;
  h.update(topics);
  h.update(std::string_view("\0", 1));
  h.update(agencies);
  return to_hex(h.finish());
}

// The payload of CataloguePublished (schema 1): cereal portable binary of these fields.
struct CatalogueEvent {
  std::string content_hash, topics_yaml, agencies_yaml;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(content_hash, topics_yaml, agencies_yaml);
  }
};

std::string encode(const CatalogueEvent& e) {
  std::ostringstream out;
  {
    cereal::PortableBinaryOutputArchive ar(out);
    ar(e);
  }
  return out.str();
}

Result<CatalogueEvent> decode(const std::string& bytes) {
  CatalogueEvent e;
  try {
    std::istringstream in(bytes);
    cereal::PortableBinaryInputArchive ar(in);
    ar(e);
  } catch (const cereal::Exception& ex) {
    return Status::Corruption(std::string("CataloguePublished does not decode: ") + ex.what());
  }
  return e;
}

}  // namespace

Result<CityCatalogue> CityCatalogue::load(const std::string& dir) {
  const std::string agencies_path = dir + "/agencies.yaml";
  const std::string topics_path = dir + "/topics.yaml";
  OTINISH_ASSIGN_OR_RETURN(std::string agencies_text, read_text(agencies_path));
  OTINISH_ASSIGN_OR_RETURN(std::string topics_text, read_text(topics_path));
  return parse(topics_text, topics_path, agencies_text, agencies_path);
}

Result<CityCatalogue> CityCatalogue::parse(const std::string& topics_yaml, const std::string& topics_path,
                                           const std::string& agencies_yaml, const std::string& agencies_path) {
  OTINISH_ASSIGN_OR_RETURN(YAML::Node agencies_doc, parse_yaml(agencies_yaml, agencies_path));
  OTINISH_ASSIGN_OR_RETURN(YAML::Node topics_doc, parse_yaml(topics_yaml, topics_path));
  CityCatalogue c;
  Problems ap(agencies_path), tp(topics_path);

  std::set<std::string> district_ids{"all"};
  for (const YAML::Node& d : agencies_doc["districts"]) {
    CityDistrict district{str(d, "id", ap), {}, {}, {}};
    names(d, &district.name_kk, &district.name_ru, &district.name_en, ap);
    if (!district_ids.insert(district.id).second) ap.add(d, "duplicate district id '" + district.id + "'");
    c.districts.push_back(std::move(district));
  }
  std::set<std::string> agency_ids;
  for (const YAML::Node& a : agencies_doc["agencies"]) {
    CityAgency agency;
    agency.id = str(a, "id", ap);
    names(a, &agency.name_kk, &agency.name_ru, &agency.name_en, ap);
    agency.kind = str(a, "kind", ap);
    agency.head_role = str(a, "head_role", ap);
    for (const YAML::Node& d : a["districts"]) {
      agency.districts.push_back(d.as<std::string>());
      if (!district_ids.count(agency.districts.back())) {
        ap.add(d, "agency '" + agency.id + "' serves unknown district '" + agency.districts.back() + "'");
      }
    }
    if (!agency_ids.insert(agency.id).second) ap.add(a, "duplicate agency id '" + agency.id + "'");
    c.agencies.push_back(std::move(agency));
  }

  std::set<std::string> area_ids;
  for (const YAML::Node& a : topics_doc["areas"]) {
    CityArea area{str(a, "id", tp), {}, {}, {}};
    names(a, &area.name_kk, &area.name_ru, &area.name_en, tp);
    if (!area_ids.insert(area.id).second) tp.add(a, "duplicate area id '" + area.id + "'");
    c.areas.push_back(std::move(area));
  }
  std::set<std::string> topic_ids;
  for (const YAML::Node& t : topics_doc["topics"]) {
    CityTopic topic;
    topic.topic.code = str(t, "id", tp);
    names(t, &topic.topic.name_kk, &topic.topic.name_ru, &topic.topic.name_en, tp);
    topic.topic.default_agency = str(t, "agency", tp);
    auto category = engine::parse_category(str(t, "category", tp));
    if (category.ok()) {
      topic.topic.default_category = *category;
    } else {
      tp.add(t, category.status().message());
    }
    topic.topic.dangerous = t["dangerous"] && t["dangerous"].as<bool>();
    topic.housing_utilities = t["housing_utilities"] && t["housing_utilities"].as<bool>();
    if (t["seasonal"]) topic.season = t["seasonal"].as<std::string>();
    topic.area = topic.topic.code.substr(0, topic.topic.code.find('.'));
    if (!agency_ids.count(topic.topic.default_agency)) {
      tp.add(t, "topic '" + topic.topic.code + "' names unknown agency '" + topic.topic.default_agency + "'");
    }
    if (!topic_ids.insert(topic.topic.code).second) tp.add(t, "duplicate topic id '" + topic.topic.code + "'");
    c.topics.push_back(std::move(topic));
  }
  c.version = topics_doc["version"] ? topics_doc["version"].as<int>() : 0;
  if (!ap.empty() || !tp.empty()) return Status::InvalidArgument(ap.text() + tp.text());
  if (c.topics.empty()) return Status::InvalidArgument(topics_path + ": no topics");
  return c;
}

engine::InMemoryTopicCatalogue CityCatalogue::engine_catalogue() const {
  std::vector<engine::Topic> topics;
  topics.reserve(this->topics.size());
  for (const auto& t : this->topics) topics.push_back(t.topic);
  return engine::InMemoryTopicCatalogue(std::move(topics));
}

const CityAgency* CityCatalogue::agency(const std::string& id) const {
  auto it = std::find_if(agencies.begin(), agencies.end(), [&](const CityAgency& a) { return a.id == id; });
  return it == agencies.end() ? nullptr : &*it;
}

const CityTopic* CityCatalogue::topic(const std::string& id) const {
  auto it = std::find_if(topics.begin(), topics.end(), [&](const CityTopic& t) { return t.topic.code == id; });
  return it == topics.end() ? nullptr : &*it;
}

const CityArea* CityCatalogue::area(const std::string& id) const {
  auto it = std::find_if(areas.begin(), areas.end(), [&](const CityArea& a) { return a.id == id; });
  return it == areas.end() ? nullptr : &*it;
}

Result<CataloguePublication> publish_catalogue(store::EventStore& store, const std::string& dir,
                                               const store::Actor& actor) {
  OTINISH_ASSIGN_OR_RETURN(std::string topics, read_text(dir + "/topics.yaml"));
  OTINISH_ASSIGN_OR_RETURN(std::string agencies, read_text(dir + "/agencies.yaml"));
  OTINISH_RETURN_IF_ERROR(CityCatalogue::parse(topics, dir + "/topics.yaml", agencies, dir + "/agencies.yaml").status());
  CataloguePublication out;
  out.content_hash = content_hash(topics, agencies);
  CataloguePublication newest;
  if (load_published_catalogue(store, 0, &newest).ok() && newest.content_hash == out.content_hash) {
    newest.unchanged = true;
    return newest;
  }
  store::EventData e;
  e.type = "CataloguePublished";
  e.payload = encode({out.content_hash, topics, agencies});
  e.actor = actor;
  // Keyed by content: publishing the same files twice, even concurrently, appends once.
  OTINISH_ASSIGN_OR_RETURN(auto r, store.append(kCatalogueStream, store::ExpectedVersion::any(), {&e, 1},
                                                {.idempotency_key = "catalogue:" + out.content_hash}));
  out.version = r.stream_version;
  out.unchanged = r.deduplicated;
  return out;
}

Result<CityCatalogue> load_published_catalogue(const store::EventStore& store, std::uint64_t version,
                                               CataloguePublication* which) {
  OTINISH_ASSIGN_OR_RETURN(auto events, store.read_stream(kCatalogueStream, version ? version : UINT64_MAX,
                                                          version ? store::Direction::kForward
                                                                  : store::Direction::kBackward,
                                                          1));
  if (events.empty() || (version && events.front().stream_version != version)) {
    return Status::NotFound("catalogue version " + std::to_string(version) + " was never published");
  }
  OTINISH_ASSIGN_OR_RETURN(CatalogueEvent e, decode(events.front().payload));
  if (which) *which = {events.front().stream_version, e.content_hash, false};
  const std::string name = "catalogue@" + std::to_string(events.front().stream_version);
  return CityCatalogue::parse(e.topics_yaml, name + "/topics.yaml", e.agencies_yaml, name + "/agencies.yaml");
}

}  // namespace otinish::city
