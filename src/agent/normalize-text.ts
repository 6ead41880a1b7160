/** Recognizer text and campaign phrases compared the same way: lower case, words and apostrophes only. */
export function normalizeText(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9' ]+/g, ' ').replace(/\s+/g, ' ').trim();
}
