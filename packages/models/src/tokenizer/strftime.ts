/**
 * `strftime` for chat templates (`strftime_now("%d %b %Y")` in Llama 3.x templates), as Python's
 * `datetime.now().strftime` renders in the default C locale: English month and day names whatever the
 * platform's locale, local time. Directives: `%a %A %b %B %d %H %I %j %m %M %p %S %y %Y %%`, glibc's
 * unpadded `%-d %-m %-H %-I %-M %-S %-j`; any other directive is left as written.
 */

const monthNames = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December",
];
const dayNames = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

function pad(value: number, width: number): string {
  return String(value).padStart(width, "0");
}

function dayOfYear(date: Date): number {
  const start = new Date(date.getFullYear(), 0, 1);
  const startUtc = Date.UTC(start.getFullYear(), start.getMonth(), start.getDate());
  const dateUtc = Date.UTC(date.getFullYear(), date.getMonth(), date.getDate());
  return (dateUtc - startUtc) / 86_400_000 + 1;
}

/** Formats `date` (local time) with a C-locale `strftime` format. */
export function strftime(date: Date, format: string): string {
  return format.replace(/%(-?)([a-zA-Z%])/g, (directive, unpadded: string, letter: string) => {
    const number = (value: number, width: number) => (unpadded ? String(value) : pad(value, width));
    const hour12 = date.getHours() % 12 === 0 ? 12 : date.getHours() % 12;
    switch (letter) {
      case "a":
        return dayNames[date.getDay()]!.slice(0, 3);
      case "A":
        return dayNames[date.getDay()]!;
      case "b":
        return monthNames[date.getMonth()]!.slice(0, 3);
      case "B":
        return monthNames[date.getMonth()]!;
      case "d":
        return number(date.getDate(), 2);
      case "H":
        return number(date.getHours(), 2);
      case "I":
        return number(hour12, 2);
      case "j":
        return number(dayOfYear(date), 3);
      case "m":
        return number(date.getMonth() + 1, 2);
      case "M":
        return number(date.getMinutes(), 2);
      case "p":
        return date.getHours() < 12 ? "AM" : "PM";
      case "S":
        return number(date.getSeconds(), 2);
      case "y":
        return pad(date.getFullYear() % 100, 2);
      case "Y":
        return String(date.getFullYear());
      case "%":
        return unpadded ? directive : "%";
      default:
        return directive;
    }
  });
}
