// machine/strategies and loader/strategy.ts: the registry holds exactly embed, kld and kexec
// (the CLI's and JSON's ids) with their facts; each strategy's staging is checked with the ELF
// reader (rescue_start/rescue_end for embed), its rescue_kernel_init finding with an ArrayRam
// holding the loader's placements (no machine), and neither machine/session.ts nor compare/
// names a strategy: they call the objects.
import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { offsetFrom } from '../../../loader/addr.js';
import { parseElf } from '../../../loader/elf/reader.js';
import { extractEmbeddedRescue } from '../../../loader/embed/index.js';
import { ArrayRam } from '../../../loader/memory/guest-ram.js';
import { loadProfile } from '../../../loader/plan/profile.js';
import { RESCUE_KERNEL_MODULE_TYPE } from '../../../loader/preload/index.js';
import { RESCUE_MODULE_NAME } from '../../../loader/preload/strategy.js';
import { STRATEGY_IDS } from '../../../loader/strategy.js';
import { packageRoot } from '../../../loader/paths.js';
import { hostKernelElf } from '../../../kernels/host-elf.js';
import { buildHostModel } from '../../../machine/host/model.js';
import { RESCUE_STRATEGIES, rescueStrategy } from '../../../machine/strategies/index.js';
import { throwsCode } from '../../helpers/errors.js';
import { makeRescueKernel } from '../../helpers/kernels.js';

const profile = loadProfile('amd64-efi');
const host = hostKernelElf('amd64', 1);
const rescue = makeRescueKernel('amd64');

t.test('the registry: one object per id, in report order, with the facts reports carry', (t) => {
  t.same(STRATEGY_IDS, ['embed', 'kld', 'kexec'], 'the ids the CLI, the journal and JSON use');
  t.same(
    RESCUE_STRATEGIES.map((s) => s.id),
    STRATEGY_IDS,
  );
  for (const id of STRATEGY_IDS) t.equal(rescueStrategy(id).id, id, `${id}: looked up by its id`);
  t.same(
    RESCUE_STRATEGIES.map((s) => [s.id, s.label, s.armedBy, s.replacement.needs, s.loaderCopy]),
    [
      ['embed', 'embed', 'boot', 'rebuild', 'inside the kernel image'],
      ['kld', 'KLD', 'boot', 'reboot', 'the module'],
      ['kexec', 'kexec', 'userspace', 'nothing', undefined],
    ],
  );
  for (const s of RESCUE_STRATEGIES) t.ok(Object.isFrozen(s), `${s.id}: frozen`);
  t.match(
    rescueStrategy('kexec').replacement.describe({ disarmedByUnload: true, sameReservation: true }),
    /nothing armed after it\).*byte-identical$/,
  );
  t.notMatch(rescueStrategy('kexec').replacement.describe(), /nothing armed|byte-identical/);
  t.match(rescueStrategy('embed').replacement.describe(), /rebuild the kernel/);
  t.equal(rescueStrategy('kexec').unarmedReason(false), 'no crash kernel loaded: kexec_load runs only from userspace');
  t.equal(rescueStrategy('kexec').unarmedReason(true), 'no crash kernel loaded (kboot load --crash)');
  t.equal(rescueStrategy('kld').unarmedReason(true), 'rescue_kernel_init did not arm a rescue kernel');
  t.end();
});

t.test('what the loader stages for each strategy', (t) => {
  const embed = rescueStrategy('embed').stage(host, rescue);
  t.not(embed.kernel, host, 'embed: a new host kernel');
  t.same(embed.modules, []);
  const back = extractEmbeddedRescue(embed.kernel);
  t.same(Buffer.from(back.bytes), Buffer.from(rescue), 'embed: rescue_start..rescue_end hold the rescue ELF');
  const kld = rescueStrategy('kld').stage(host, rescue);
  t.equal(kld.kernel, host, 'kld: the host kernel as it is');
  t.same(
    kld.modules.map((m) => [m.name, m.type, m.bytes === rescue]),
    [[RESCUE_MODULE_NAME, RESCUE_KERNEL_MODULE_TYPE, true]],
  );
  const kexec = rescueStrategy('kexec').stage(host, rescue);
  t.equal(kexec.kernel, host);
  t.same(kexec.modules, []);
  t.end();
});

/** The booted host's loader placements in an ArrayRam over the host-kernel range (no machine). */
function loaderRam(model: ReturnType<typeof buildHostModel>): ArrayRam {
  const r = profile.hostKernel.range;
  const ram = new ArrayRam([{ base: r.start, size: r.size }]);
  for (const p of model.loaderPlacements) ram.write(p.phys, p.data);
  return ram;
}

t.test('rescue_kernel_init finds what each strategy staged, in guest memory', (t) => {
  for (const s of RESCUE_STRATEGIES) {
    const staged = s.stage(host, rescue);
    const model = buildHostModel(profile, {
      seed: 1,
      kernel: parseElf(staged.kernel),
      ...(staged.modules.length === 0 ? {} : { modules: staged.modules }),
    });
    const ram = loaderRam(model);
    const found = s.findAtVmConf({ ram, model });
    if (s.armedBy === 'userspace') {
      t.equal(found, undefined, `${s.id}: rescue_kernel_init only reserves`);
      continue;
    }
    if (found === undefined) {
      t.fail(`${s.id}: nothing found`);
      continue;
    }
    t.equal(found.size, BigInt(rescue.length), `${s.id}: the rescue ELF's length`);
    t.same(Buffer.from(ram.read(found.pa, rescue.length)), Buffer.from(rescue), `${s.id}: its bytes at ${found.how}`);
  }
  // a strategy whose staging is missing from the host: HOST_MODEL, not a wrong kernel
  const plain = buildHostModel(profile, { seed: 1, kernel: parseElf(host) });
  for (const id of ['embed', 'kld'] as const) {
    throwsCode(t, () => rescueStrategy(id).findAtVmConf({ ram: loaderRam(plain), model: plain }), 'HOST_MODEL', id);
  }
  const embedded = buildHostModel(profile, {
    seed: 1,
    kernel: parseElf(rescueStrategy('embed').stage(host, rescue).kernel),
  });
  const sym = embedded.kernel.symbols;
  const start = sym['rescue_start'];
  const end = sym['rescue_end'];
  t.ok(start !== undefined && end !== undefined && offsetFrom(end.va, start.va) === BigInt(rescue.length));
  t.end();
});

t.test('machine/session.ts and compare/ name no strategy: they call the objects', (t) => {
  const root = packageRoot();
  const files = [
    'machine/session.ts',
    'machine/journal.ts',
    ...readdirSync(join(root, 'compare')).map((f) => `compare/${f}`),
  ];
  for (const f of files.filter((x) => x.endsWith('.ts'))) {
    const src = readFileSync(join(root, f), 'utf8');
    t.notMatch(src, /['"`](embed|kld|kexec|preload)['"`]/, `${f}: no strategy id in a string`);
  }
  t.end();
});
