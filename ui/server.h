#pragma once
// `anneal ui`: a small HTTP server (cpp-httplib) over the registry and the run folders: a
// JSON API and one static page (ui/web, its charts drawn by uPlot from npm).
//
//   GET  /api/experiments
//   GET  /api/runs?experiment=E&status=S&where=EXPR&sort=-metric.accuracy&limit=N
//   GET  /api/runs/ID                  the record, resolved.yaml, environment.json, artifacts
//   GET  /api/runs/ID/metrics?keys=a,b {key: {step: [...], value: [...], time: [...]}}
//   GET  /api/runs/ID/logs?stream=stdout|stderr&tail=BYTES
//   GET  /api/compare?ids=A,B,...
//   POST /api/runs/ID/cancel           needs the token
//
// Safe by default: it binds 127.0.0.1 and answers only requests addressed to it by that
// name (no DNS rebinding); any other --host needs a token (given with --token, or made and
// printed), checked on every request. Everything is read-only but cancel, which always needs
// a token (on loopback without --token, one made at start and handed to the page). Files are
// served from a fixed list read at start; run files are found through the registry by id,
// never by a path from the request.
#include <string>

namespace anneal::ui {

struct UiOptions {
  std::string host = "127.0.0.1";
  int port = 8080;           // 0: any free port
  std::string token;         // "" with a non-loopback host: one is made and printed
  std::string tracking_uri;  // the registry
  std::string assets_dir;    // the page's files ("": ANNEAL_UI_DIR, else found beside the program)
  std::string port_file;     // when set, the bound port is written here (tests use port 0)
};

// Serves until SIGINT/SIGTERM; returns the exit status.
int serve(UiOptions options);

// Where the page's files are: ANNEAL_UI_DIR, <program dir>/share/anneal/ui (the build
// tree), or <program dir>/../share/anneal/ui (an install).
std::string find_assets_dir(const std::string& program_path);

}  // namespace anneal::ui
