/**
 * News subjects and subscription patterns, NATS-style: a subject is dot-separated tokens
 * (`orders.eu.paris`); a pattern may use `*` for exactly one token (`orders.*.paris`) and `>` as its
 * last token for one or more tokens (`orders.>`). Every subject and pattern from a user or the
 * network passes through here before it touches state: a bad one is ERR_INVALID_ARGUMENT.
 */
import { HorusError } from '../../core/errors.js';

/** Longest subject or pattern, in UTF-16 units. */
export const MAX_SUBJECT_LENGTH = 256;

/** Whitespace and control characters are never part of a subject. */
const FORBIDDEN = /[\s\u0000-\u001f\u007f]/;

function tokensOf(kind: 'subject' | 'pattern', s: unknown): string[] {
  if (typeof s !== 'string' || s.length === 0 || s.length > MAX_SUBJECT_LENGTH)
    throw new HorusError('ERR_INVALID_ARGUMENT', `a news ${kind} is a string of 1 to ${MAX_SUBJECT_LENGTH} characters`);
  if (FORBIDDEN.test(s)) throw new HorusError('ERR_INVALID_ARGUMENT', `news ${kind} ${JSON.stringify(s.slice(0, 64))} holds whitespace or a control character`);
  const tokens = s.split('.');
  if (tokens.some((t) => t.length === 0))
    throw new HorusError('ERR_INVALID_ARGUMENT', `news ${kind} ${JSON.stringify(s.slice(0, 64))} has an empty token (a leading, trailing or double dot)`);
  return tokens;
}

/** Checks a subject one publishes to (no wildcards); returns it. */
export function checkSubject(s: unknown): string {
  const tokens = tokensOf('subject', s);
  if (tokens.some((t) => t.includes('*') || t.includes('>')))
    throw new HorusError('ERR_INVALID_ARGUMENT', `news subject ${JSON.stringify((s as string).slice(0, 64))} holds a wildcard: publish to a plain subject`);
  return s as string;
}

/** A checked subscription pattern, ready to match subjects. */
export class SubjectPattern {
  private readonly tokens: readonly string[];
  /** The pattern ends in `>`: it matches one or more further tokens. */
  private readonly tail: boolean;
  /** Plain subject, no wildcard: matching is string equality. */
  private readonly literal: boolean;

  /** Parses `pattern`; ERR_INVALID_ARGUMENT when it is not one. */
  constructor(readonly pattern: string) {
    const tokens = tokensOf('pattern', pattern);
    tokens.forEach((t, i) => {
      if (t === '>' && i !== tokens.length - 1)
        throw new HorusError('ERR_INVALID_ARGUMENT', `news pattern ${JSON.stringify(pattern.slice(0, 64))}: ">" may only be the last token`);
      if (t !== '*' && t !== '>' && (t.includes('*') || t.includes('>')))
        throw new HorusError('ERR_INVALID_ARGUMENT', `news pattern ${JSON.stringify(pattern.slice(0, 64))}: a wildcard is a whole token ("*" or ">")`);
    });
    this.tail = tokens[tokens.length - 1] === '>';
    this.tokens = this.tail ? tokens.slice(0, -1) : tokens;
    this.literal = !this.tail && !tokens.includes('*');
  }

  /** True if `subject` (a checked subject) is one this pattern names. */
  matches(subject: string): boolean {
    if (this.literal) return subject === this.pattern;
    const s = subject.split('.');
    if (this.tail ? s.length <= this.tokens.length : s.length !== this.tokens.length) return false;
    for (let i = 0; i < this.tokens.length; i++) {
      const t = this.tokens[i]!;
      if (t !== '*' && t !== s[i]) return false;
    }
    return true;
  }
}
