using System.Globalization;
using System.Net;
using System.Text;

namespace DockerProxy.Cli;

/// <summary>Go's value syntaxes, as the original reads them: strconv.ParseInt(s, 0, 64),
/// strconv.ParseBool, net.ParseIP and %q quoting.</summary>
internal static class GoSyntax
{
    /// <summary>strconv.ParseInt(s, 0, 64): optional sign, 0x/0o/0b or leading-0 octal prefix,
    /// underscores between digits. Mirrors Go's order of checks: a digit that overflows 64 bits
    /// is a range error at once, a bad character a syntax error, underscores are checked last.</summary>
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
        if (text[0] == '0')
        {
            prefixed = true;
            char marker = text.Length >= 3 ? char.ToLowerInvariant(text[1]) : '\0';
            numberBase = marker switch
            {
                'x' => 16,
                'o' => 8,
                'b' => 2,
                _ => 8, // "0755": octal, the leading 0 is the prefix
            };
            text = marker is 'x' or 'o' or 'b' ? text[2..] : text[1..];
        }

        ulong magnitude = 0;
        bool underscores = false;
        foreach (char c in text)
        {
            if (c == '_')
            {
                underscores = true;
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

            if (magnitude > (ulong.MaxValue - (ulong)digit) / (ulong)numberBase)
            {
                return GoIntResult.OutOfRange; // strconv.ParseUint: overflow is reported at once
            }

            magnitude = (magnitude * (ulong)numberBase) + (ulong)digit;
        }

        if (underscores && !UnderscoresOk(text, prefixed))
        {
            return GoIntResult.Syntax;
        }

        ulong limit = negative ? 1UL << 63 : (1UL << 63) - 1;
        if (magnitude > limit)
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

    /// <summary>net.ParseIP: dotted-quad IPv4 (decimal, no leading zeros) or IPv6 without a zone or
    /// brackets (an embedded IPv4 tail follows the same rules as IPv4).</summary>
    internal static IPAddress? ParseIp(string s)
    {
        if (s.Contains(':', StringComparison.Ordinal))
        {
            if (s.AsSpan().IndexOfAny('%', '[', ']') >= 0)
            {
                return null;
            }

            int lastColon = s.LastIndexOf(':');
            if (s.IndexOf('.', lastColon) >= 0 && ParseIPv4(s.AsSpan(lastColon + 1)) is null)
            {
                return null;
            }

            return IPAddress.TryParse(s, out IPAddress? v6) && v6.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
                ? v6
                : null;
        }

        return ParseIPv4(s);
    }

    private static IPAddress? ParseIPv4(ReadOnlySpan<char> s)
    {
        Span<byte> bytes = stackalloc byte[4];
        int part = 0;
        foreach (Range range in s.Split('.'))
        {
            ReadOnlySpan<char> field = s[range];
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

    /// <summary>Go's %q (strconv.Quote): printable characters as they are, the rest escaped.</summary>
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
                case '\a': sb.Append("\\a"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\v': sb.Append("\\v"); break;
                default:
                    if (c < ' ' || c == '\x7f')
                    {
                        sb.Append(CultureInfo.InvariantCulture, $"\\x{(int)c:x2}");
                    }
                    else if (!IsGoPrintable(c))
                    {
                        sb.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
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

    // strconv.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space; not other
    // spaces, controls, format characters or unassigned code points.
    private static bool IsGoPrintable(char c)
    {
        if (c == ' ')
        {
            return true;
        }

        UnicodeCategory category = char.GetUnicodeCategory(c);
        return category is not (UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.SpaceSeparator
            or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator or UnicodeCategory.OtherNotAssigned
            or UnicodeCategory.PrivateUse);
    }
}
