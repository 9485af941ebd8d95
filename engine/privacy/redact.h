// engine/privacy/redact.h: personal data taken out of free text before it is written in plain bytes.
//
// The log never forgets, so free text (an appeal's text as the operator typed it, a reason, a result, a
// comment) must not carry a phone number or a flat number in plain bytes: erasure could not take them back.
// The engine passes every free-text field of every command through redact_personal_data() before it becomes
// an event; at registration it also removes the applicant's own name, phone and address, and keeps the text as
// given inside the sealed applicant (Applicant::original_text), so the desk still has it until the applicant
// is erased.
//
// What is replaced:
//   [phone]    a run of 10 to 12 digits (spaces, dashes, dots, parentheses between them allowed): Kazakh phone
//              numbers with or without the 8 or +7, and twelve-digit IINs; or '+' and 7 or more digits;
//   [email]    word@word.word;
//   [contact]  @handle (a messenger id);
//   [flat]     a flat or apartment number: "кв. 12", "кв 12", "квартира 12", "пәтер 12", "flat 12", "apt 12";
//   [applicant] the applicant's name words (3 letters or more), phone as given, and address, where they occur.
// A street, a house number and the district stay: they are where the problem is, which agencies need (the
// public feed shows the district only).
//
// Thread-safety: pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "engine/domain.h"

namespace otinish::engine::privacy {

std::string redact_personal_data(std::string_view text);
// The same, and the applicant's own name words, phone and address wherever they occur.
std::string redact_personal_data(std::string_view text, const Applicant& applicant);

}  // namespace otinish::engine::privacy
