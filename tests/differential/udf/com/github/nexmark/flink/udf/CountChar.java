package com.github.nexmark.flink.udf;

import org.apache.flink.table.functions.ScalarFunction;

import java.nio.charset.StandardCharsets;

/**
 * Nexmark q14 UDF {@code count_char(s, c)}: the number of bytes of {@code s} (UTF-8) equal to the
 * first byte of {@code c}. Returns 0 when {@code s} is null or {@code c} is null or empty.
 */
public class CountChar extends ScalarFunction {

    public long eval(String s, String c) {
        if (s == null || c == null || c.isEmpty()) {
            return 0L;
        }
        byte target = c.getBytes(StandardCharsets.UTF_8)[0];
        long count = 0L;
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
            if (b == target) {
                count++;
            }
        }
        return count;
    }
}
