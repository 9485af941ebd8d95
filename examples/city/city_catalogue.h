// examples/city/city_catalogue.h: the topic catalogue and agency directory of examples/catalogue/, loaded.
//
//   auto city = otinish::city::CityCatalogue::load("examples/catalogue");
//   if (!city.ok()) { /* "examples/catalogue/topics.yaml:412:5: topic 'x' names unknown agency 'y'" */ }
//   otinish::engine::InMemoryTopicCatalogue topics = city->engine_catalogue();
//
// Thread-compatible value type.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/domain.h"
#include "store/event_store.h"

namespace otinish::city {

struct CityTopic {
  engine::Topic topic;
  std::string area;              // the first segment of the id: "utilities"
  bool housing_utilities = false;
  std::string season;            // "", "winter", "spring", "summer", "autumn"
};

struct CityAgency {
  std::string id;
  std::string name_kk, name_ru, name_en;
  std::string kind;       // city_department, district_akimat, utility, state_body, private_operator
  std::vector<std::string> districts;  // district ids, or {"all"}
  std::string head_role;  // the role an escalation to "the head" notifies
};

// A topic's area (the first segment of its id), with its names: Open311 shows it as a service's group.
struct CityArea {
  std::string id;  // "utilities"
  std::string name_kk, name_ru, name_en;
};

struct CityDistrict {
  std::string id;  // "al_farabi"
  std::string name_kk, name_ru, name_en;
};

struct CityCatalogue {
  int version = 0;
  std::vector<CityTopic> topics;
  std::vector<CityArea> areas;
  std::vector<CityAgency> agencies;
  std::vector<CityDistrict> districts;

  // Loads `dir`/topics.yaml and `dir`/agencies.yaml and checks them: unique ids, known categories, every
  // topic's agency exists, every agency's districts exist.
  // Errors: kNotFound (a file is missing), kInvalidArgument with file:line:column for every problem found.
  static Result<CityCatalogue> load(const std::string& dir);
  // The same from the files' text; `*_name` is what error messages call each file.
  static Result<CityCatalogue> parse(const std::string& topics_yaml, const std::string& topics_name,
                                     const std::string& agencies_yaml, const std::string& agencies_name);

  engine::InMemoryTopicCatalogue engine_catalogue() const;
  const CityAgency* agency(const std::string& id) const;
  const CityTopic* topic(const std::string& id) const;
  const CityArea* area(const std::string& id) const;  // nullptr if topics.yaml does not name it
};

// The catalogue is versioned in the log: each published version is one "CataloguePublished" event in the
// stream "catalogue" carrying both files' text and their content hash (BLAKE2b-256 of topics.yaml, a NUL byte,
// agencies.yaml), so an auditor can rebuild the exact catalogue any appeal was classified under.
inline constexpr std::string_view kCatalogueStream = "catalogue";

struct CataloguePublication {
  std::uint64_t version = 0;  // the event's version in the "catalogue" stream
  std::string content_hash;   // hex
  bool unchanged = false;     // the newest published version already had this content: nothing was appended
};

// Validates `dir`'s catalogue and publishes it, unless the newest published version has the same content.
// Errors: those of load(); the store's.
Result<CataloguePublication> publish_catalogue(store::EventStore& store, const std::string& dir,
                                               const store::Actor& actor);
// The newest published catalogue (or, with `version`, that version). kNotFound if none was published.
Result<CityCatalogue> load_published_catalogue(const store::EventStore& store, std::uint64_t version = 0,
                                               CataloguePublication* which = nullptr);

}  // namespace otinish::city
