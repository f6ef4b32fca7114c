// Preload (`node -r`) that makes every server in the process listen on 127.0.0.1, for peers
// that have no option to choose their bind address.
const net = require('node:net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function patched(...args) {
  if (typeof args[0] === 'number' || (typeof args[0] === 'string' && /^\d+$/.test(args[0]))) {
    const port = Number(args[0]);
    const cb = args.find((a) => typeof a === 'function');
    return listen.call(this, { port, host: '127.0.0.1' }, cb);
  }
  if (args[0] && typeof args[0] === 'object' && !Array.isArray(args[0])) {
    return listen.call(this, { ...args[0], host: '127.0.0.1' }, ...args.slice(1));
  }
  return listen.apply(this, args);
};
