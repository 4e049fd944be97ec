using System.Globalization;
using System.Net;
using System.Text;

namespace DockerProxy.Cli;

/// <summary>Go's value syntaxes, as the original reads them: strconv.ParseInt(s, 0, 64),
/// strconv.ParseBool, net.ParseIP and %q quoting.</summary>
internal static class GoSyntax
{
    /// <summary>strconv.ParseInt(s, 0, 64): optional sign, 0x/0o/0b or leading-0 octal prefix,
    /// underscores between digits.</summary>
    internal static GoIntResult ParseInt(string s, out long result)
    {
        result = 0;
        ReadOnlySpan<char> text = s;
        bool negative = false;
        if (text.Length > 0 && (text[0] == '+' || text[0] == '-'))
        {
            negative = text[0] == '-';
            text = text[1..];
        }

        if (text.IsEmpty)
        {
            return GoIntResult.Syntax;
        }

        int numberBase = 10;
        bool prefixed = false;
        if (text[0] == '0' && text.Length > 1)
        {
            prefixed = true;
            switch (char.ToLowerInvariant(text[1]))
            {
                case 'x': numberBase = 16; text = text[2..]; break;
                case 'o': numberBase = 8; text = text[2..]; break;
                case 'b': numberBase = 2; text = text[2..]; break;
                default: numberBase = 8; text = text[1..]; break; // "0755": octal, the leading 0 is the prefix
            }
        }

        if (text.IsEmpty || !UnderscoresOk(text, prefixed))
        {
            return GoIntResult.Syntax;
        }

        ulong magnitude = 0;
        ulong limit = negative ? 1UL << 63 : (1UL << 63) - 1;
        bool overflow = false;
        foreach (char c in text)
        {
            if (c == '_')
            {
                continue;
            }

            int digit = c switch
            {
                >= '0' and <= '9' => c - '0',
                >= 'a' and <= 'z' => c - 'a' + 10,
                >= 'A' and <= 'Z' => c - 'A' + 10,
                _ => 99,
            };
            if (digit >= numberBase)
            {
                return GoIntResult.Syntax;
            }

            if (!overflow)
            {
                if (magnitude > (limit - (ulong)digit) / (ulong)numberBase)
                {
                    overflow = true; // keep scanning: a later bad digit is still a syntax error, as in Go
                }
                else
                {
                    magnitude = (magnitude * (ulong)numberBase) + (ulong)digit;
                }
            }
        }

        if (overflow)
        {
            return GoIntResult.OutOfRange;
        }

        result = negative ? (long)(0 - magnitude) : (long)magnitude;
        return GoIntResult.Ok;
    }

    // strconv.underscoreOK: with base 0 an underscore may stand only between digits, or between
    // a base prefix and a digit ("1_000", "0x_1F" and "0_7" are fine; "_1", "1__0" and "1_" are not).
    private static bool UnderscoresOk(ReadOnlySpan<char> digits, bool prefixed)
    {
        bool afterDigit = prefixed; // a base prefix counts as a digit
        bool afterUnderscore = false;
        foreach (char c in digits)
        {
            if (c == '_')
            {
                if (!afterDigit)
                {
                    return false;
                }

                afterDigit = false;
                afterUnderscore = true;
            }
            else
            {
                afterDigit = true;
                afterUnderscore = false;
            }
        }

        return !afterUnderscore;
    }

    /// <summary>strconv.ParseBool.</summary>
    internal static bool? ParseBool(string s) => s switch
    {
        "1" or "t" or "T" or "true" or "TRUE" or "True" => true,
        "0" or "f" or "F" or "false" or "FALSE" or "False" => false,
        _ => null,
    };

    /// <summary>net.ParseIP: dotted-quad IPv4 (decimal, no leading zeros) or IPv6 without a zone.</summary>
    internal static IPAddress? ParseIp(string s)
    {
        if (s.Contains(':', StringComparison.Ordinal))
        {
            return !s.Contains('%', StringComparison.Ordinal) && IPAddress.TryParse(s, out IPAddress? v6)
                && v6.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
                ? v6
                : null;
        }

        Span<byte> bytes = stackalloc byte[4];
        int part = 0;
        foreach (Range range in s.AsSpan().Split('.'))
        {
            ReadOnlySpan<char> field = s.AsSpan()[range];
            if (part == 4 || field.IsEmpty || field.Length > 3 || (field.Length > 1 && field[0] == '0'))
            {
                return null;
            }

            if (!byte.TryParse(field, NumberStyles.None, CultureInfo.InvariantCulture, out bytes[part]))
            {
                return null;
            }

            part++;
        }

        return part == 4 ? new IPAddress(bytes) : null;
    }

    /// <summary>Go's %q for the strings a command line carries.</summary>
    internal static string Quote(string s)
    {
        var sb = new StringBuilder(s.Length + 2);
        sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\t': sb.Append("\\t"); break;
                case '\r': sb.Append("\\r"); break;
                default:
                    if (char.IsControl(c))
                    {
                        sb.Append(CultureInfo.InvariantCulture, $"\\x{(int)c:x2}");
                    }
                    else
                    {
                        sb.Append(c);
                    }

                    break;
            }
        }

        return sb.Append('"').ToString();
    }
}
