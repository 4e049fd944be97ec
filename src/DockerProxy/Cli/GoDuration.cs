using System.Globalization;

namespace DockerProxy.Cli;

/// <summary>
/// Go's time.ParseDuration: a sequence of decimal numbers, each with an optional fraction and a
/// unit (ns, us, µs, ms, s, m, h), e.g. "90s", "1.5h", "2h45m", "300ms"; "0" alone; a sign in front.
/// </summary>
internal static class GoDuration
{
    internal static bool TryParse(string text, out TimeSpan duration)
    {
        duration = TimeSpan.Zero;
        ReadOnlySpan<char> s = text;
        bool negative = false;
        if (!s.IsEmpty && (s[0] == '-' || s[0] == '+'))
        {
            negative = s[0] == '-';
            s = s[1..];
        }

        if (s is "0")
        {
            return true;
        }

        if (s.IsEmpty)
        {
            return false;
        }

        decimal totalNanoseconds = 0;
        while (!s.IsEmpty)
        {
            int digits = 0;
            while (digits < s.Length && (char.IsAsciiDigit(s[digits]) || s[digits] == '.'))
            {
                digits++;
            }

            ReadOnlySpan<char> number = s[..digits];
            if (number.IsEmpty || number is "." || number.Count('.') > 1 ||
                !decimal.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out decimal value))
            {
                return false;
            }

            s = s[digits..];
            int unitLength = 0;
            while (unitLength < s.Length && !char.IsAsciiDigit(s[unitLength]) && s[unitLength] != '.')
            {
                unitLength++;
            }

            decimal? scale = s[..unitLength] switch
            {
                "ns" => 1m,
                "us" or "µs" or "μs" => 1_000m,
                "ms" => 1_000_000m,
                "s" => 1_000_000_000m,
                "m" => 60_000_000_000m,
                "h" => 3_600_000_000_000m,
                _ => null,
            };
            if (scale is null)
            {
                return false; // a missing or unknown unit
            }

            s = s[unitLength..];
            totalNanoseconds += value * scale.Value;
            if (totalNanoseconds > long.MaxValue)
            {
                return false; // Go: "invalid duration" beyond about 292 years
            }
        }

        long ticks = (long)(totalNanoseconds / 100m);
        duration = TimeSpan.FromTicks(negative ? -ticks : ticks);
        return true;
    }
}
