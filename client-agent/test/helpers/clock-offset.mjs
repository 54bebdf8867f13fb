// Loaded with `--import` into the agent process under test: moves its wall clock (Date) by
// TUFCHAIN_TEST_CLOCK_OFFSET_MS, as on a vehicle whose clock is wrong. The monotonic clock
// (performance.now) and the chain's and servers' clocks are untouched, as on a vehicle.
import process from 'node:process';

const offset = Number(process.env.TUFCHAIN_TEST_CLOCK_OFFSET_MS ?? 0);
const RealDate = Date;

class VehicleDate extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(RealDate.now() + offset);
    else super(...args);
  }

  static now() {
    return RealDate.now() + offset;
  }
}

globalThis.Date = VehicleDate;
