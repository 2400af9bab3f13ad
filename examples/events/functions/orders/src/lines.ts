export interface Line {
  sku: string;
  quantity: number;
  cents: number;
}

export const total = (lines: Line[]): number =>
  lines.reduce((sum, line) => sum + line.quantity * line.cents, 0);
