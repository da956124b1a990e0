// Loaded with `node -r` before Omniboard: it calls app.listen(port), which binds every
// interface and has no host option. Pin the host to TUNELAB_BOARD_HOST (default 127.0.0.1).
"use strict";
const http = require("http");
const net = require("net");
const os = require("os");

const host = process.env.TUNELAB_BOARD_HOST || "127.0.0.1";

// --auth arrives in TUNELAB_BOARD_CREDENTIALS (USER:PASSWORD:SECRET), not on the command line, where `ps` shows it.
if (process.env.TUNELAB_BOARD_CREDENTIALS) {
  process.argv.push("-u", process.env.TUNELAB_BOARD_CREDENTIALS);
  delete process.env.TUNELAB_BOARD_CREDENTIALS;
}

// Omniboard answers every origin with `Access-Control-Allow-Origin: *` and checks no Host: any web page
// the user opens (or DNS rebinding) could read, rewrite and delete runs. Before Express sees a request,
// refuse one whose Host is not an address this board serves, or whose Origin is another site.
const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "[::1]"];

function servedNames() {
  const names = new Set([host.includes(":") ? `[${host}]` : host, ...LOOPBACK_NAMES]);
  if (["0.0.0.0", "::", ""].includes(host)) {
    names.add(os.hostname());
    for (const addresses of Object.values(os.networkInterfaces())) {
      for (const { address, family } of addresses || []) names.add(family === "IPv6" ? `[${address}]` : address);
    }
  }
  for (const name of (process.env.TUNELAB_BOARD_ALLOWED_HOSTS || "").split(",")) if (name) names.add(name);
  return names;
}

function refusal(request, port, names) {
  const hostHeader = (request.headers.host || "").toLowerCase();
  const at = hostHeader.lastIndexOf(":");
  const [name, hostPort] = at > hostHeader.lastIndexOf("]") ? [hostHeader.slice(0, at), hostHeader.slice(at + 1)] : [hostHeader, "80"];
  if (!names.has(name) || Number(hostPort) !== port) return `Host ${hostHeader || "(none)"} is not served here`;
  const origin = request.headers.origin;
  if (origin !== undefined && origin !== `http://${hostHeader}` && origin !== `https://${hostHeader}`) {
    return `requests from ${origin} are refused`;
  }
  return null;
}

const emit = http.Server.prototype.emit;
http.Server.prototype.emit = function (event, request, response) {
  if (event === "request") {
    this._tunelabNames = this._tunelabNames || servedNames();
    const why = refusal(request, this.address().port, this._tunelabNames);
    if (why) {
      response.writeHead(403, { "Content-Type": "text/plain" });
      response.end(`tunelab board: ${why}\n`);
      return true;
    }
  }
  return emit.apply(this, arguments);
};
const listen = net.Server.prototype.listen;

net.Server.prototype.listen = function (...args) {
  const first = args[0];
  if (typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first))) {
    const callback = typeof args[args.length - 1] === "function" ? args[args.length - 1] : undefined;
    return listen.call(this, { port: Number(first), host }, callback);
  }
  if (first && typeof first === "object" && "port" in first) {
    return listen.call(this, { ...first, host }, ...args.slice(1));
  }
  return listen.apply(this, args);
};

// Omniboard's runs list projects every run and computes its duration and status, then sorts
// and keeps one page: on SecantusDB, 2.7 s at 10,000 runs. When the sort key is a stored field,
// sorting and paging first returns the same rows (0.5 s there). Patch mongoose's Aggregate,
// which Omniboard loads, to do that.
const Module = require("module");
const load = Module.prototype.require;
let patched = false;

Module.prototype.require = function (id) {
  const exported = load.apply(this, arguments);
  if (id === "mongoose" && !patched && exported && exported.Aggregate) {
    patched = true;
    const exec = exported.Aggregate.prototype.exec;
    exported.Aggregate.prototype.exec = function (...args) {
      this._pipeline = sortAndPageFirst(this._pipeline);
      return exec.apply(this, args);
    };
  }
  return exported;
};

function sortAndPageFirst(pipeline) {
  const at = pipeline.findIndex((stage) => "$sort" in stage);
  if (at <= 0) return pipeline;
  const before = pipeline.slice(0, at);
  if (!before.every((stage) => "$project" in stage || "$addFields" in stage)) return pipeline;
  const computed = new Set(before.flatMap((stage) => Object.keys(stage.$addFields || {})));
  const projected = before.filter((stage) => "$project" in stage).map((stage) => stage.$project);
  const stored = (key) => key === "_id" || projected.every((p) => p[key] === 1 || p[key.split(".")[0]] === 1);
  if (!Object.keys(pipeline[at].$sort).every((key) => !computed.has(key.split(".")[0]) && stored(key))) {
    return pipeline;
  }
  let end = at + 1;
  while (end < pipeline.length && ("$skip" in pipeline[end] || "$limit" in pipeline[end])) end++;
  return [...pipeline.slice(at, end), ...before, ...pipeline.slice(end)];
}
