# What the fuzz targets' inputs flow through: the parsers, the codecs, the HTTP edge up to the resources. The
# libFuzzer build (libfuzzer/CMakeLists.txt) compiles these instrumented and links them ahead of the main build's
# libraries; the main build keeps them out of its unity files (otinish_unity), so that the archive member that
# holds one of them holds nothing else the fuzz targets pull in (which would define its functions twice).
set(OTINISH_FUZZ_INSTRUMENTED_FILES
  rules/calendar.cc
  rules/calendar_spec.cc
  rules/diagnostics.cc
  rules/duration.cc
  rules/rule_lint.cc
  rules/rule_set.cc
  rules/sla.cc
  rules/yaml_support.cc
  store/envelope_codec.cc
  engine/events.cc
  engine/sla_events.cc
  engine/privacy/privacy_events.cc
  api/http/auth.cc
  api/http/form.cc
  api/http/json_codec.cc
  api/http/open311.cc
  api/http/problem.cc
  api/http/publications.cc
  api/http/router.cc
  api/http/server.cc
  api/http/service.cc
  api/http/session.cc)
