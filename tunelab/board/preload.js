// Loaded with `node -r` before Omniboard: it calls app.listen(port), which binds every
// interface and has no host option. Pin the host to TUNELAB_BOARD_HOST (default 127.0.0.1).
"use strict";
const net = require("net");

const host = process.env.TUNELAB_BOARD_HOST || "127.0.0.1";
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
