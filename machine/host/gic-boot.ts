/**
 * The host kernel's GICv3 bring-up, as FreeBSD's gicv3_its attach does it
 * (sys/arm64/arm64/gicv3_its.c gicv3_its_attach, gicv3_its_table_init, gicv3_its_cmdq_init,
 * its_init_cpu_lpi; facts in shared/spec/freebsd-handoff.md §7): for the first ITS, the
 * device and collection tables into GITS_BASER0/1 (64 KiB pages, inner-shareable,
 * write-allocate write-back), the command queue into GITS_CBASER with CWRITER = 0, then
 * GITS_CTLR.Enabled; for each CPU, GICR_PROPBASER (the one configuration table, IDbits
 * flsl(LPI_CONFTAB_SIZE | GIC_FIRST_LPI) - 1 = 16), its GICR_PENDBASER, then
 * GICR_CTLR.EnableLPIs. The tables are the profile's (the model placed them in host RAM).
 *
 * Contract: `programGicv3(gic, tables)` writes the registers through the same MMIO interface
 * guest code uses, so what is live afterwards is what the registers say (Gicv3.liveLpiTables,
 * liveItsTables). Tables the profile lacks are left unprogrammed (a GICv3 without LPIs).
 */
import type { DeviceTable } from '../../loader/plan/profile.js';
import { GIC_BITS, GIC_REG, redistributorBase, type Gicv3 } from '../devices/gicv3.js';

/** Inner write-allocate write-back: GICR_PROPBASER/PENDBASER_CACHE_NIWAWB, GITS_CBASER_CACHE_NIWAWB, GITS_BASER_CACHE_WAWB (5). */
const CACHE_WAWB = 5n;
/** flsl(LPI_CONFTAB_SIZE | GIC_FIRST_LPI) - 1 = flsl(0x12000) - 1 = 16. */
const PROPBASER_IDBITS = 16n;
/** GITS_BASER Page_Size 64 KiB (GITS_BASER_PSZ_64K = 2 at bit 8). */
const PSZ_64K = 2n << 8n;
const SZ_64K = 0x10000n;

function programIts(gic: Gicv3, tables: readonly DeviceTable[]): void {
  const base = gic.layout.its[0];
  if (base === undefined) return;
  const its = (kind: DeviceTable['kind']): DeviceTable | undefined => tables.find((t) => t.kind === kind);
  const baser = (t: DeviceTable): bigint =>
    GIC_BITS.VALID | (CACHE_WAWB << 59n) | t.range.start | GIC_BITS.SHARE_IS | PSZ_64K | (t.range.size / SZ_64K - 1n);
  const dev = its('its-device');
  const col = its('its-collection');
  const cmdq = its('its-cmdq');
  if (dev !== undefined) gic.write(base + GIC_REG.GITS_BASER0, 8, baser(dev));
  if (col !== undefined) gic.write(base + GIC_REG.GITS_BASER0 + 8n, 8, baser(col));
  if (cmdq !== undefined) {
    const cbaser =
      GIC_BITS.VALID | (CACHE_WAWB << 59n) | cmdq.range.start | GIC_BITS.SHARE_IS | (cmdq.range.size / 0x1000n - 1n);
    gic.write(base + GIC_REG.GITS_CBASER, 8, cbaser);
    gic.write(base + GIC_REG.GITS_CWRITER, 8, 0n);
  }
  gic.write(base + GIC_REG.GITS_CTLR, 4, GIC_BITS.GITS_CTLR_EN);
}

/** Programs the GIC as the host kernel left it running (see the module contract). */
export function programGicv3(gic: Gicv3, tables: readonly DeviceTable[]): void {
  programIts(gic, tables);
  const conf = tables.find((t) => t.kind === 'lpi-conf');
  const pend = tables.filter((t) => t.kind === 'lpi-pend');
  if (conf === undefined) return;
  pend.forEach((p, cpu) => {
    const rd = redistributorBase(gic.layout, cpu);
    if (rd === undefined || cpu >= gic.layout.cpus) return;
    gic.write(
      rd + GIC_REG.GICR_PROPBASER,
      8,
      conf.range.start | GIC_BITS.SHARE_IS | (CACHE_WAWB << 7n) | PROPBASER_IDBITS,
    );
    gic.write(rd + GIC_REG.GICR_PENDBASER, 8, p.range.start | GIC_BITS.SHARE_IS | (CACHE_WAWB << 7n));
    gic.write(rd + GIC_REG.GICR_CTLR, 4, GIC_BITS.GICR_CTLR_LPI_ENABLE);
  });
}
