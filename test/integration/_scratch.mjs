import { startGateway, connect, textOf, defaultConfig, servers, waitFor } from './helpers.mjs';
const gw = await startGateway({ mcpServers: { demo: servers.demo(), probe: servers.probe() }, gateway: { timeouts: { drainMs: 2000 }, servers: { probe: { isolation: 'session' } } } });
try {
  console.log(JSON.stringify(await gw.health()));
  const a = await connect(gw); const b = await connect(gw);
  console.log(textOf(await a.client.callTool({ name: 'probe__whoami', arguments: {} })), textOf(await b.client.callTool({ name: 'probe__whoami', arguments: {} })));
  console.log(JSON.stringify(await gw.health()));
  await a.transport.terminateSession(); await a.client.close();
  await new Promise(r => setTimeout(r, 500));
  console.log(JSON.stringify(await gw.health()));
} catch (e) { console.log('ERR', e); } finally { console.log(await gw.stop()); console.log(gw.stderr.slice(-2500)); }
