// `npm run db:up|db:down|db:reset|db:migrate|db:status` (see db/README.md).
import { closeDriver } from "../driver.ts";
import { migrate } from "../migrate.ts";
import { down, reset, status, up } from "../server/commands.ts";

const USAGE = "usage: main.ts up | down | reset [--force] | migrate | status";
const log = (msg: string) => console.log(`db: ${msg}`);

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const unknown = rest.filter((a) => !(cmd === "reset" && a === "--force"));
  if (unknown.length > 0) throw new Error(`unexpected argument ${unknown[0]}; ${USAGE}`);
  switch (cmd) {
    case "up": {
      const r = await up({ log });
      console.log(r.uri);
      return 0;
    }
    case "down":
      await down({ log });
      return 0;
    case "reset": {
      const r = await reset({ log, force: rest.includes("--force") });
      console.log(r.uri);
      return 0;
    }
    case "migrate": {
      const r = await migrate({ log });
      if (r.unknown.length > 0) log(`warning: the database has migrations with no file here: ${r.unknown.join(", ")}`);
      log(`${r.applied.length} applied, ${r.alreadyApplied.length} already applied`);
      return 0;
    }
    case "status": {
      const s = await status();
      console.log(`${s.up ? "up" : "down"}: ${s.uri} (${s.detail})`);
      return s.up ? 0 : 1;
    }
    default:
      throw new Error(cmd ? `unknown command ${cmd}; ${USAGE}` : USAGE);
  }
}

let code = 1;
try {
  code = await main(process.argv.slice(2));
} catch (err) {
  console.error(`atlas: error: ${err instanceof Error ? err.message : String(err)}`);
} finally {
  await closeDriver().catch(() => {});
}
process.exit(code);
