// pull, push, login, logout: the session's images and a registry (worker/src/registry/).
import { Registries } from '../../registry/index.js';
import { remoteReference } from '../../registry/remote-reference.js';
import type { CliContext } from '../context.js';
import { printable } from '../../../../protocol/printable.js';
import type { Program } from './shared.js';

export async function sessionRegistries(ctx: CliContext): Promise<Registries> {
  const { store, images, containers } = await ctx.engine();
  return new Registries({ dataDir: ctx.dataDir, store, images, quota: containers });
}

const short = (digest: string) => digest.slice(7, 19);

export function registerRegistry(program: Program): void {
  const { t } = program;

  program
    .command('pull')
    .description(t('pull'))
    .argument('<image>')
    .action(
      program.verb(async (ctx: CliContext, name: string) => {
        const registries = await sessionRegistries(ctx);
        const ref = remoteReference(name);
        if (!/:[\w][\w.-]*$/.test(name.split('/').pop()!)) process.stdout.write(`Using default tag: ${ref.tag}\n`);
        process.stdout.write(`${printable(ref.tag)}: Pulling from ${printable(ref.repository)}\n`);
        const done = new Set<string>();
        const result = await registries.pull(name, (p) => {
          if ((p.status === 'verified' || p.status === 'cached') && !done.has(p.digest)) {
            done.add(p.digest);
            process.stdout.write(`${short(p.digest)}: ${p.status === 'cached' ? 'Already exists' : 'Pull complete'}\n`);
          }
        });
        process.stdout.write(`Digest: ${result.digest}\nStatus: Downloaded newer image for ${printable(result.name)}\n${printable(result.name)}\n`);
        return 0;
      }),
    );

  program
    .command('push')
    .description(t('push'))
    .argument('<image>')
    .action(
      program.verb(async (ctx: CliContext, name: string) => {
        const registries = await sessionRegistries(ctx);
        const ref = remoteReference(name);
        process.stdout.write(`The push refers to repository [${printable(ref.name.replace(/:[^:/]+$/, ''))}]\n`);
        const result = await registries.push(name);
        process.stdout.write(`${printable(ref.tag)}: digest: ${result.digest} size: ${result.size}\n`);
        return 0;
      }),
    );

  program
    .command('login')
    .description(t('login'))
    .option('-u, --username <name>', t('login.username'))
    .option('-p, --password <password>', t('login.password'))
    .argument('[server]')
    .action(
      program.verb(async (ctx: CliContext, server: string | undefined, f: { username?: string; password?: string }) => {
        const registries = await sessionRegistries(ctx);
        const host = server ?? (await registries.projectHost()) ?? 'registry-1.docker.io';
        const given = f.username !== undefined ? { username: f.username, password: f.password ?? '' } : null;
        await registries.login(host, given);
        process.stdout.write('Login Succeeded\n');
        return 0;
      }),
    );

  program
    .command('logout')
    .description(t('logout'))
    .argument('[server]')
    .action(
      program.verb(async (ctx: CliContext, server: string | undefined) => {
        const registries = await sessionRegistries(ctx);
        const host = server ?? (await registries.projectHost()) ?? 'registry-1.docker.io';
        const removed = await registries.logout(host);
        process.stdout.write(removed ? `Removing login credentials for ${printable(host)}\n` : `Not logged in to ${printable(host)}\n`);
        return 0;
      }),
    );
}
