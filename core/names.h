// The names a setting's values go by. Each concept with a fixed set of values
// (the error types, the losses, the optimizers, the named data sets) keeps
// one list of them beside its enum; the CLI's choices, the settings query
// string, the playground's combo boxes, the web API and the error messages
// are all made from that list, so that a new value is added in one place.
#pragma once

#include <string>
#include <vector>

#include "error.h"

namespace pcplay {

template <typename E>
struct Named {
  E value;
  const char* name;   // as typed: --err strict, err=strict
  const char* label;  // as shown: "Strict PC"
};

// "a, b or c"
std::string name_list(const std::vector<std::string>& names);
// Whether two names are the same but for case.
bool same_name(const std::string& a, const std::string& b);

template <typename E>
std::vector<std::string> names_of(const std::vector<Named<E>>& list) {
  std::vector<std::string> names;
  for (const Named<E>& n : list) names.push_back(n.name);
  return names;
}

// The entry named `name` (in any case), or null.
template <typename E>
const Named<E>* find_named(const std::vector<Named<E>>& list, const std::string& name) {
  for (const Named<E>& n : list)
    if (same_name(n.name, name)) return &n;
  return nullptr;
}

// The value named `name` (in any case); throws Error "unknown WHAT "x"
// (expected a, b or c)" otherwise.
template <typename E>
E parse_named(const std::vector<Named<E>>& list, const std::string& name, const char* what) {
  if (const Named<E>* n = find_named(list, name)) return n->value;
  throw Error("unknown " + std::string(what) + " \"" + name + "\" (expected " + name_list(names_of(list)) + ")");
}

// The entry of `value` (the list's first when it has none).
template <typename E>
const Named<E>& named(const std::vector<Named<E>>& list, E value) {
  for (const Named<E>& n : list)
    if (n.value == value) return n;
  return list.front();
}

}  // namespace pcplay
