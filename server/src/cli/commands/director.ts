import type { Command } from 'commander';
import {
  addJsonOption,
  addServerOptions,
  collect,
  createApiClient,
  emit,
  parsePositiveInt,
  type CliRun,
  type JsonOption,
  type ServerOptions,
} from '../context.js';
import { CliError } from '../error.js';

/** A Director assignment as the server answers it. */
interface AssignmentView {
  id: number;
  vehicle: string;
  correlationId: string;
  atomic: boolean;
  status: string;
  images: { ecuSerial: string; hardwareId: string; name: string; releaseCounter: number }[];
  createdAt: string;
}

function assignmentText(a: AssignmentView): string {
  return [
    `assignment ${a.id} ${a.status}${a.atomic ? ' (atomic)' : ''}: vehicle ${a.vehicle}`,
    `  ${a.correlationId}, ${a.createdAt}`,
    ...a.images.map(
      (i) =>
        `  ${i.ecuSerial} (${i.hardwareId}) <- ${i.name} (release counter ${i.releaseCounter})`,
    ),
  ].join('\n');
}

/** `--image ECU=NAME` pairs. */
function parseImages(pairs: string[]): { ecuSerial: string; name: string }[] {
  if (pairs.length === 0) throw new CliError('USAGE_ERROR', 'at least one --image ECU=NAME');
  return pairs.map((p) => {
    const at = p.indexOf('=');
    if (at <= 0 || at === p.length - 1) {
      throw new CliError('USAGE_ERROR', `--image ${p}: expected ECU_SERIAL=TARGET_NAME`);
    }
    return { ecuSerial: p.slice(0, at), name: p.slice(at + 1) };
  });
}

interface AssignOptions extends JsonOption, ServerOptions {
  image: string[];
  atomic?: boolean;
  correlationId?: string;
}

/** `tufchain director assign|list|cancel`: the Director's assignments API (token scope director:assign). */
export function registerDirectorCommand(program: Command, run: CliRun): void {
  const director = program
    .command('director')
    .description(
      "Uptane Director: assign image-repository images to one vehicle's ECUs, list and cancel assignments (the Director root is made with `tufchain repo init|finalize` like the image repository's)",
    );

  const assign = director
    .command('assign')
    .description(
      'assign images to ECUs of one vehicle; its next Director targets version lists them (signed, logged)',
    )
    .argument('<vehicle>', 'VIN commitment of the vehicle (64 hex), never a VIN')
    .option('--image <ecu=name>', 'ECU serial = image-repository target name (repeat)', collect, [])
    .option('--atomic', 'install as one set (default with more than one image)')
    .option('--no-atomic', 'each ECU on its own')
    .option('--correlation-id <urn>', 'urn:tufchain:<kind>:<id> (default: a fresh one)');
  addServerOptions(assign);
  addJsonOption(assign).action(async (vehicle: string, opts: AssignOptions) => {
    const api = await createApiClient(run, opts);
    const res = await api.json<{ assignment: AssignmentView; targetsVersion: number }>(
      'POST',
      '/api/v1/director/assignments',
      {
        body: {
          vehicle,
          images: parseImages(opts.image),
          ...(opts.atomic === undefined ? {} : { atomic: opts.atomic }),
          ...(opts.correlationId ? { correlationId: opts.correlationId } : {}),
        },
      },
    );
    emit(
      run,
      opts,
      res.body,
      `${assignmentText(res.body.assignment)}\nDirector targets version ${res.body.targetsVersion}`,
    );
  });

  const list = director
    .command('list')
    .description('list Director assignments, oldest first')
    .option('--vehicle <commitment>', 'only this vehicle')
    .option('--status <status>', 'active, cancelled or completed');
  addServerOptions(list);
  addJsonOption(list).action(
    async (opts: JsonOption & ServerOptions & { vehicle?: string; status?: string }) => {
      const api = await createApiClient(run, opts);
      const query = new URLSearchParams({
        ...(opts.vehicle ? { vehicle: opts.vehicle } : {}),
        ...(opts.status ? { status: opts.status } : {}),
      }).toString();
      const res = await api.json<{ assignments: AssignmentView[] }>(
        'GET',
        `/api/v1/director/assignments${query ? `?${query}` : ''}`,
      );
      emit(
        run,
        opts,
        res.body,
        res.body.assignments.length === 0
          ? 'no assignments'
          : res.body.assignments.map(assignmentText).join('\n'),
      );
    },
  );

  const cancel = director
    .command('cancel')
    .description(
      "cancel an active assignment; the vehicle's next Director targets version is empty",
    )
    .argument('<id>', 'assignment id');
  addServerOptions(cancel);
  addJsonOption(cancel).action(async (id: string, opts: JsonOption & ServerOptions) => {
    const api = await createApiClient(run, opts);
    const n = parsePositiveInt(id, 'the assignment id');
    const res = await api.json<{ assignment: AssignmentView; targetsVersion: number }>(
      'POST',
      `/api/v1/director/assignments/${n}/cancel`,
    );
    emit(
      run,
      opts,
      res.body,
      `${assignmentText(res.body.assignment)}\nDirector targets version ${res.body.targetsVersion}`,
    );
  });
}
