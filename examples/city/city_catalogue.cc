#include "examples/city/city_catalogue.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <set>

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

Result<YAML::Node> load_file(const std::string& path) {
  if (!std::filesystem::exists(path)) return Status::NotFound("catalogue file " + path + " does not exist");
  try {
    return YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(path + ":" + std::to_string(e.mark.line + 1) + ":" +
                                   std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
}

}  // namespace

Result<CityCatalogue> CityCatalogue::load(const std::string& dir) {
  const std::string agencies_path = dir + "/agencies.yaml";
  const std::string topics_path = dir + "/topics.yaml";
  OTINISH_ASSIGN_OR_RETURN(YAML::Node agencies_doc, load_file(agencies_path));
  OTINISH_ASSIGN_OR_RETURN(YAML::Node topics_doc, load_file(topics_path));
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

}  // namespace otinish::city
