/* Writes the JPEG fixtures that stb_image_write cannot make: a progressive JPEG, CMYK JPEGs with
 * and without the Adobe APP14 marker, and libjpeg's own baseline (4:2:0) and greyscale files as a
 * second encoder's view. Built and run by hand; its outputs are committed (and seed the fuzzer).
 *
 *   cc make_jpeg_fixtures.c -ljpeg -o /tmp/make_jpeg_fixtures && /tmp/make_jpeg_fixtures .
 *
 * Every fixture is 48x40 and shows the same smooth pattern as test_data_decode.cc expects:
 * red = 40 + 4x, green = 30 + 4y, blue = 160. CMYK is stored as Adobe applications store it,
 * inverted (255 means no ink), so the pattern is C' = red, M' = green, Y' = blue, K' = 255. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

enum { W = 48, H = 40 };

// components: 1 grey (red channel of the pattern), 3 RGB, 4 CMYK
static void write_jpeg(const char* dir, const char* name, int components, int progressive, int adobe_marker) {
  const int cmyk = components == 4;
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE* f = fopen(path, "wb");
  if (!f) {
    perror(path);
    exit(1);
  }
  struct jpeg_compress_struct cinfo;
  struct jpeg_error_mgr jerr;
  cinfo.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&cinfo);
  jpeg_stdio_dest(&cinfo, f);
  cinfo.image_width = W;
  cinfo.image_height = H;
  cinfo.input_components = components;
  cinfo.in_color_space = components == 4 ? JCS_CMYK : components == 3 ? JCS_RGB : JCS_GRAYSCALE;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, 95, TRUE);
  if (progressive) jpeg_simple_progression(&cinfo);
  if (cmyk) cinfo.write_Adobe_marker = adobe_marker ? TRUE : FALSE;
  jpeg_start_compress(&cinfo, TRUE);
  unsigned char row[W * 4];
  while (cinfo.next_scanline < H) {
    int y = (int)cinfo.next_scanline, c = cinfo.input_components;
    for (int x = 0; x < W; ++x) {
      row[x * c + 0] = (unsigned char)(40 + 4 * x);
      if (c == 1) continue;
      row[x * c + 1] = (unsigned char)(30 + 4 * y);
      row[x * c + 2] = 160;
      if (cmyk) row[x * c + 3] = 255;
    }
    JSAMPROW rows[1] = {row};
    jpeg_write_scanlines(&cinfo, rows, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  fclose(f);
}

int main(int argc, char** argv) {
  const char* dir = argc > 1 ? argv[1] : ".";
  write_jpeg(dir, "progressive.jpg", 3, 1, 0);
  write_jpeg(dir, "cmyk_adobe.jpg", 4, 0, 1);
  write_jpeg(dir, "cmyk_no_adobe.jpg", 4, 0, 0);
  write_jpeg(dir, "libjpeg_baseline.jpg", 3, 0, 0);
  write_jpeg(dir, "libjpeg_grey.jpg", 1, 0, 0);
  return 0;
}
