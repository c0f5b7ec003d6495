// The fault drills' judge: which doubles a kill explains.
import { describe, expect, it } from 'vitest';
import { judge, type Send } from './drill/verdict.js';

const kills = [
  { at: 1000, restartedAt: 1500 },
  { at: 3000, restartedAt: 3500 },
];
const sends = (...at: number[]): Send[] => at.map((t) => ({ chat: 'c', text: 'm0', at: t }));
const verdictOf = (copies: Send[]) => judge(copies, new Map([['c', ['m0']]]), new Set(['m0']), kills);

describe('drill verdict', () => {
  it('explains a double whose copies straddle a kill, the first read up to the restart', () => {
    expect(verdictOf(sends(900, 1200)).unexplained).toEqual([]);
    expect(verdictOf(sends(1400, 1600)).unexplained).toEqual([]);
  });

  it('explains a triple only with a kill between each two copies', () => {
    expect(verdictOf(sends(900, 2900, 3200)).unexplained).toEqual([]);
    expect(verdictOf(sends(900, 1200, 1300)).unexplained).toEqual(['c/m0 at 900, 1200, 1300']);
  });

  it('does not explain a double with no kill between its copies', () => {
    expect(verdictOf(sends(1600, 2000)).unexplained).toEqual(['c/m0 at 1600, 2000']);
  });
});
