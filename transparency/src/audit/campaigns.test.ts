import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeLogEntry } from '../log/entry.js';
import type { CampaignLogEntry } from '../wire/campaign.js';
import {
  campaignMembersSha256,
  campaignReleaseSha256,
  waveMembers,
} from '../wire/campaign-waves.js';
import {
  auditCampaigns,
  campaignEntryOfLeaf,
  type CampaignAuditInput,
  type CampaignAuditInstall,
} from './campaigns.js';
import type { LoggedDirectorTargets } from './director.js';
import type { AuditFinding } from './source.js';

const URN = `urn:tufchain:campaign:${'1'.repeat(32)}`;
const SALT = 'ab'.repeat(32);
const RELEASE = [{ hardwareId: 'gw-x1', name: 'gw-2.0.0.img', sha256: 'c'.repeat(64), length: 9 }];
/** 20 vehicles; wave 1 takes 25 %, wave 2 the rest. */
const FLEET = Array.from({ length: 20 }, () => randomBytes(32).toString('hex')).sort();
const WAVE1 = waveMembers(SALT, FLEET, 25, new Set());
const WAVE2 = waveMembers(SALT, FLEET, 100, new Set(WAVE1));

function event(seq: number, event: CampaignLogEntry['event'], detail: object): CampaignLogEntry {
  return {
    type: 'campaign',
    campaign: URN,
    seq,
    event,
    at: '2026-12-01T00:00:00Z',
    detail: { ...detail },
  };
}

function waveStarted(seq: number, wave: number, percent: number, members: string[]) {
  return event(seq, 'wave-started', {
    wave,
    percent,
    snapshotMembersSha256: campaignMembersSha256(FLEET),
    membersSha256: campaignMembersSha256(members),
    assignmentSha256: campaignReleaseSha256(RELEASE),
  });
}

const ENTRIES: CampaignLogEntry[] = [
  event(1, 'created', { release: RELEASE, salt: SALT }),
  waveStarted(2, 1, 25, WAVE1),
  waveStarted(3, 2, 100, WAVE2),
];

function targets(
  vehicle: string,
  over: Partial<LoggedDirectorTargets> = {},
): LoggedDirectorTargets {
  return {
    type: 'director-targets',
    vehicle,
    targetsVersion: 2,
    targetsHash: 'd'.repeat(64),
    correlationId: `${URN}:${vehicle}`,
    images: [
      {
        ecu: 'e'.repeat(64),
        hardwareId: 'gw-x1',
        name: 'gw-2.0.0.img',
        sha256: 'c'.repeat(64),
        releaseCounter: 2,
      },
    ],
    ...over,
  };
}

const install = (vehicle: string, i: number): CampaignAuditInstall => ({
  subject: `attestation:${i}`,
  vehicle,
  director: { targetsVersion: 2, targetsHash: 'd'.repeat(64) },
});

const base = (): Omit<CampaignAuditInput, 'report'> => ({
  entries: ENTRIES,
  directorTargets: FLEET.map((v) => targets(v)),
  installs: FLEET.map(install),
  snapshots: new Map([
    [
      URN,
      new Map([
        [1, FLEET],
        [2, FLEET],
      ]),
    ],
  ]),
});

function run(tamper: (input: Omit<CampaignAuditInput, 'report'>) => void = () => undefined) {
  const input = base();
  tamper(input);
  const findings: AuditFinding[] = [];
  const summary = auditCampaigns({ ...input, report: (f) => findings.push(f) });
  return { codes: findings.map((f) => f.code), summary };
}

describe('auditCampaigns', () => {
  it('finds nothing in a campaign whose waves and assignments are what the log says', () => {
    const { codes, summary } = run();
    expect(codes).toEqual([]);
    expect(summary).toEqual({
      campaigns: 1,
      campaignAssignments: FLEET.length,
      singleAssignments: 0,
      wavesRecomputed: 2,
    });
  });

  it.each<{
    desc: string;
    tamper: (i: Omit<CampaignAuditInput, 'report'>) => void;
    wantCode: string;
  }>([
    {
      desc: 'one vehicle of the wave got another image',
      tamper: (i) => {
        i.directorTargets = [
          targets(FLEET[0]!, {
            images: [
              {
                ecu: 'e'.repeat(64),
                hardwareId: 'gw-x1',
                name: 'gw-evil.img',
                sha256: 'f'.repeat(64),
                releaseCounter: 2,
              },
            ],
          }),
          ...FLEET.slice(1).map((v) => targets(v)),
        ];
      },
      wantCode: 'CAMPAIGN_WAVE_NOT_UNIFORM',
    },
    {
      desc: 'a wave start pins another release set',
      tamper: (i) => {
        i.entries = [
          ENTRIES[0]!,
          { ...ENTRIES[1]!, detail: { ...ENTRIES[1]!.detail, assignmentSha256: '0'.repeat(64) } },
          ENTRIES[2]!,
        ];
      },
      wantCode: 'CAMPAIGN_WAVE_NOT_UNIFORM',
    },
    {
      desc: 'the logged wave 1 is not what the salt gives (a hand-picked canary)',
      tamper: (i) => {
        i.entries = [ENTRIES[0]!, waveStarted(2, 1, 25, FLEET.slice(0, WAVE1.length)), ENTRIES[2]!];
      },
      wantCode: 'CAMPAIGN_WAVE_MEMBERS_MISMATCH',
    },
    {
      desc: 'the opened snapshot is not the one logged',
      tamper: (i) => {
        i.snapshots = new Map([
          [
            URN,
            new Map([
              [1, FLEET.slice(1)],
              [2, FLEET],
            ]),
          ],
        ]);
      },
      wantCode: 'CAMPAIGN_WAVE_MEMBERS_MISMATCH',
    },
    {
      desc: 'a state change is missing from the log',
      tamper: (i) => {
        i.entries = [ENTRIES[0]!, ENTRIES[2]!];
      },
      wantCode: 'CAMPAIGN_EVENTS_GAP',
    },
    {
      desc: 'an assignment names a campaign the log never created',
      tamper: (i) => {
        const other = `urn:tufchain:campaign:${'2'.repeat(32)}`;
        i.directorTargets = FLEET.map((v, k) =>
          targets(v, k === 0 ? { correlationId: `${other}:${v}` } : {}),
        );
      },
      wantCode: 'CAMPAIGN_ASSIGNMENT_NOT_LOGGED',
    },
    {
      desc: "an assignment carries another vehicle's campaign correlation ID",
      tamper: (i) => {
        i.directorTargets = FLEET.map((v, k) =>
          targets(v, k === 0 ? { correlationId: `${URN}:${FLEET[1]!}` } : {}),
        );
      },
      wantCode: 'CAMPAIGN_ASSIGNMENT_NOT_LOGGED',
    },
    {
      desc: 'a vehicle outside the group was assigned under the campaign',
      tamper: (i) => {
        const stranger = 'f'.repeat(64);
        i.directorTargets = [...FLEET.map((v) => targets(v)), targets(stranger)];
      },
      wantCode: 'CAMPAIGN_ASSIGNMENT_OUTSIDE_WAVE',
    },
    {
      desc: 'an install without any Director assignment',
      tamper: (i) => {
        i.installs = [...FLEET.map(install), { subject: 'attestation:99', vehicle: FLEET[0]! }];
      },
      wantCode: 'INSTALL_NOT_COVERED',
    },
    {
      desc: 'an install for Director targets that list no assignment',
      tamper: (i) => {
        i.directorTargets = FLEET.map((v, k) => targets(v, k === 0 ? { correlationId: null } : {}));
      },
      wantCode: 'INSTALL_NOT_COVERED',
    },
  ])('reports $wantCode when $desc', ({ tamper, wantCode }) => {
    expect(run(tamper).codes).toContain(wantCode);
  });

  it('accepts an install covered by an explicit single-vehicle assignment', () => {
    const { codes, summary } = run((i) => {
      i.directorTargets = FLEET.map((v, k) =>
        targets(v, k === 0 ? { correlationId: `urn:tufchain:assignment:${'3'.repeat(32)}` } : {}),
      );
    });
    expect(codes).toEqual([]);
    expect(summary.singleAssignments).toBe(1);
  });

  it('does not recompute waves without the opened snapshots, but still checks the release set', () => {
    const { codes, summary } = run((i) => {
      delete i.snapshots;
      i.entries = [ENTRIES[0]!, waveStarted(2, 1, 25, FLEET.slice(0, WAVE1.length)), ENTRIES[2]!];
    });
    expect(codes).toEqual([]);
    expect(summary.wavesRecomputed).toBe(0);
  });
});

describe('campaignEntryOfLeaf', () => {
  it('reads a campaign entry back from its log leaf, and nothing from other leaves', () => {
    expect(campaignEntryOfLeaf(encodeLogEntry(ENTRIES[1]!))).toEqual(ENTRIES[1]);
    expect(
      campaignEntryOfLeaf(
        encodeLogEntry(targets(FLEET[0]!) as Parameters<typeof encodeLogEntry>[0]),
      ),
    ).toBeUndefined();
    expect(campaignEntryOfLeaf(Buffer.from('{"at":"not json'))).toBeUndefined();
    expect(campaignEntryOfLeaf(Buffer.from('{"at":"2026-12-01T00:00:00Z"}'))).toBeUndefined();
  });
});
