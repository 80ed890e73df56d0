/**
 * The fixture boards (test/fixtures/dtb) whose firmware adds or fills /memory at boot, with
 * the RAM a user gives `kboot machine import --dtb --memory` for them.
 */
const G = 1n << 30n;

export const BOARD_MEMORY: Readonly<Record<string, readonly { start: bigint; size: bigint }[]>> = {
  'allwinner_sun50i-a64-pine64-plus': [{ start: 0x4000_0000n, size: 2n * G }],
  'amd_amd-overdrive-rev-b1': [{ start: 0x80_0000_0000n, size: 8n * G }],
  'broadcom_bcm2711-rpi-4-b': [{ start: 0n, size: 0x3b40_0000n }],
  'rockchip_rk3399-rockpro64': [{ start: 0x20_0000n, size: 0xf7e0_0000n }],
};
