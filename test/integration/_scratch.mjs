import { startGateway, connect, textOf } from './helpers.mjs';
const gw = await startGateway();
try {
  for (const mode of ['sse','legacy']) {
    const { client, log } = await connect(gw, { mode, capabilities: { sampling: {}, elicitation: {} } });
    const tools = await client.listTools();
    console.log(mode, tools.tools.length);
    console.log(mode, textOf(await client.callTool({ name: 'demo__echo', arguments: { message: 'hi' } })));
    const r = await client.readResource({ uri: 'mcpgw://demo/demo://readme' });
    console.log(mode, JSON.stringify(r));
    const p = await client.getPrompt({ name: 'demo__greeting', arguments: { name: 'Ann' } });
    console.log(mode, JSON.stringify(p));
    const p2 = await client.getPrompt({ name: 'everything__args-prompt', arguments: { city: 'Paris' } });
    console.log(mode, JSON.stringify(p2));
    const r2 = await client.readResource({ uri: 'mcpgw://everything/demo://resource/static/document/features.md' });
    console.log(mode, JSON.stringify(r2).slice(0,300));
    const prog = [];
    const lr = await client.callTool({ name: 'everything__trigger-long-running-operation', arguments: { duration: 1, steps: 4 } }, undefined, { onprogress: (p) => prog.push(p) });
    console.log(mode, textOf(lr), JSON.stringify(prog));
    console.log(JSON.stringify(log.map(l => [l.method, l.status, l.contentType])));
    await client.close();
  }
} catch (e) { console.log('ERR', e); } finally { console.log(await gw.stop()); console.log(gw.stderr.slice(-1500)); }
